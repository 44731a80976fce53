"""Type stubs of the native module (rust/py/). Checked against it by `mypy.stubtest`."""

from typing import Final, final

__all__ = ["BUCKETS", "Catalog"]

BUCKETS: Final[list[str]]

@final
class Catalog:
    """A compiled price catalog (see `llmledger.pricing.compile`)."""

    def __new__(cls, json: str) -> Catalog: ...
    def __len__(self) -> int: ...
    def mode_index(self, mode: str) -> int | None: ...
    def price(
        self,
        model: int,
        ts_us: int,
        mode: int | None,
        tokens: tuple[int, int, int, int, int, int, int, int],
        discount_ppm: int,
    ) -> tuple[
        tuple[int, int, int, int, int, int, int, int], int, int, int, int | None, bool
    ]: ...
