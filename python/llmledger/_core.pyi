"""Type stubs of the native module (rust/py/). Checked against it by `mypy.stubtest`."""

from typing import Any, Final, Literal, final

__all__ = [
    "BUCKETS",
    "MAX_TOKENS",
    "ArrowResult",
    "Catalog",
    "Ledger",
    "Repricing",
    "Summary",
    "UsageParser",
    "count_tokens",
    "estimate_request_tokens",
    "latency_stats",
]

BUCKETS: Final[tuple[str, str, str, str, str, str, str, str]]
MAX_TOKENS: Final[int]

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

_Api = Literal["chat", "responses", "completions", "embeddings", "messages", "generate_content"]

@final
class Summary:
    """What one response said about itself (see `llmledger.capture.observation`)."""

    @property
    def model(self) -> str | None: ...
    @property
    def response_id(self) -> str | None: ...
    @property
    def service_tier(self) -> str | None: ...
    @property
    def tokens(self) -> tuple[int, int, int, int, int, int, int, int] | None: ...
    @property
    def usage_source(self) -> Literal["response", "stream_final"] | None: ...
    @property
    def raw_usage(self) -> str | None: ...
    @property
    def usage_problem(self) -> str | None: ...
    @property
    def output_text(self) -> str: ...
    @property
    def events(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def failure(self) -> str | None: ...

@final
class UsageParser:
    """Reads a response body, fed in any split, into usage (see `llmledger.capture`)."""

    def __new__(cls, api: _Api, streaming: bool) -> UsageParser: ...
    @staticmethod
    def event_stream(api: _Api) -> UsageParser: ...
    def feed(self, chunk: bytes) -> None: ...
    def finish(self) -> Summary: ...

def count_tokens(text: str, encoding: Literal["o200k_base", "cl100k_base"]) -> int: ...
def estimate_request_tokens(
    api: _Api,
    request_body: bytes,
    encoding: Literal["o200k_base", "cl100k_base"],
) -> int: ...

_Key = str | int | None | tuple[str | int | None, ...]
_Route = tuple[int, tuple[int, int] | None, tuple[int, int] | None]

@final
class Ledger:
    """A ledger held as Arrow record batches (no copy), key columns encoded on first use."""

    def __new__(cls, data: Any) -> Ledger: ...
    @staticmethod
    def from_columns(columns: list[tuple[str, Any]]) -> Ledger: ...
    def __len__(self) -> int: ...
    def distinct(self, columns: list[str]) -> list[_Key]: ...
    def rollup(
        self,
        keys: list[tuple[str, str | None]],
        *,
        time_column: str = "at_us",
        tz: str = "UTC",
        since_us: int | None = None,
        until_us: int | None = None,
        filters: list[tuple[str, Any]] = ...,
        repricing: Repricing | None = None,
        latency_values: bool = False,
        latency_sums: bool = False,
    ) -> ArrowResult: ...
    def reprice(self, repricing: Repricing, *, time_column: str = "at_us") -> ArrowResult: ...

def latency_stats(data: Any) -> ArrowResult: ...

@final
class Repricing:
    """Compiled re-pricing tables (see `llmledger.analytics.frame.repricing`)."""

    def __new__(
        cls,
        catalog: Catalog,
        pairs: list[tuple[int, int | None]],
        model_key: list[str],
        mode_key: str | None,
        routes: list[_Route],
    ) -> Repricing: ...

@final
class ArrowResult:
    """A result table; `polars.DataFrame(result)` reads it through the Arrow C stream."""

    def __len__(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
