"""Type stubs of the native module (rust/py/). Checked against it by `mypy.stubtest`."""

from typing import Any, Final, Literal, final

__all__ = [
    "BUCKETS",
    "Catalog",
    "UsageParser",
    "count_tokens",
    "estimate_request_tokens",
]

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
    ) -> tuple[tuple[int, int, int, int, int, int, int, int], int, int, int, int | None, bool]: ...

@final
class UsageParser:
    """Reads a response body, fed in any split, into usage (see `llmledger.capture`)."""

    def __new__(
        cls,
        provider: Literal["openai", "anthropic", "google"],
        api: Literal[
            "chat", "responses", "completions", "embeddings", "messages", "generate_content"
        ],
        streaming: bool,
    ) -> UsageParser: ...
    def feed(self, chunk: bytes) -> None: ...
    def finish(self) -> dict[str, Any]: ...

def count_tokens(text: str, encoding: Literal["o200k_base", "cl100k_base"]) -> int: ...
def estimate_request_tokens(
    provider: Literal["openai", "anthropic", "google"],
    api: Literal["chat", "responses", "completions", "embeddings", "messages", "generate_content"],
    request_body: bytes,
    encoding: Literal["o200k_base", "cl100k_base"],
) -> int: ...
