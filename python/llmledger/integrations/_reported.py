"""What the usage-reporting integrations share: usage given as inclusive totals, mapped onto
the disjoint buckets, and the call handed to the writer (`sink.deliver_reported`).

LiteLLM's usage, LangChain's `usage_metadata` and the OpenTelemetry GenAI attributes all
count input as one total that includes cache reads and cache writes (and audio), and output
as one total that includes reasoning (and audio), with the parts given beside. So every
bucket here is a part, and `input_tokens` / `output_tokens` are what the parts leave. A
part larger than what is left of its total is clamped to it, and the clamp counted as a
"usage" problem, as the wire parser does; a count that is not a non-negative integer makes
the whole usage unusable: the call is recorded with the counts that are usable and
`usage_source` "unknown", its raw usage kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .._core import BUCKETS, MAX_TOKENS
from ..capture import seen
from ..capture.observation import Observation, pricing_mode
from ..capture.sink import deliver_reported, duplicates, report_problem
from ..config import enabled

__all__ = ["buckets", "now_us", "record", "usage_json"]

# The parts of each total, in the order they are taken from it.
_INPUT_PARTS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                "input_audio_tokens")  # fmt: skip
_OUTPUT_PARTS = ("reasoning_tokens", "output_audio_tokens")


class UnusableUsage(ValueError):
    """A count that is not a non-negative integer the ledger can hold."""


def _count(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise UnusableUsage(f"{name} is {value!r}, not a token count")
    return int(value)


def buckets(
    provider: str, input_total: Any, output_total: Any, **parts: Any
) -> tuple[tuple[int, ...], bool]:
    """The disjoint buckets (in `BUCKETS` order) of usage given as inclusive totals plus
    parts (keyword arguments named as the buckets), and whether the usage was usable.

    `cache_write_tokens` is every cache write, of any TTL; `cache_write_1h_tokens` the part of
    it written to the 1-hour cache."""
    usable = True
    counted: dict[str, int] = {}
    for name, value in (("input", input_total), ("output", output_total), *parts.items()):
        try:
            counted[name] = _count(name, value)
        except UnusableUsage as error:
            report_problem("usage", "%s usage: %s", provider, error)
            counted[name] = 0
            usable = False
    # The 1-hour writes are a part of all writes: split them off before the input's parts.
    writes = counted.get("cache_write_tokens", 0)
    one_hour = counted.get("cache_write_1h_tokens", 0)
    if one_hour > writes:
        report_problem("usage", "%s usage: cache_write_1h_tokens %d exceeds the cache writes, "
                       "%d; clamped to them", provider, one_hour, writes)  # fmt: skip
        one_hour = writes
    counted["cache_write_tokens"], counted["cache_write_1h_tokens"] = writes - one_hour, one_hour
    out = dict.fromkeys(BUCKETS, 0)
    for total_name, bucket, part_names in (
        ("input", "input_tokens", _INPUT_PARTS),
        ("output", "output_tokens", _OUTPUT_PARTS),
    ):
        left = counted[total_name]
        for part in part_names:
            value = counted.get(part, 0)
            if value > left:
                report_problem(
                    "usage",
                    "%s usage: %s %d exceeds what is left of the %s, %d; clamped to it",
                    *(provider, part, value, total_name, left),
                )
                value = left
            out[part] = value
            left -= value
        out[bucket] = left
    return tuple(out[b] for b in BUCKETS), usable


def usage_json(usage: Mapping[str, Any]) -> str:
    """The usage object as the JSON text stored in `raw_usage` (values it cannot encode, as
    their text)."""
    return json.dumps(usage, default=str, separators=(",", ":"))


def now_us() -> int:
    """Microseconds since the epoch, the ledger's time."""
    return time.time_ns() // 1000


def record(
    provider: str,
    model: str,
    tokens: tuple[int, ...],
    *,
    usable: bool,
    usage_source: str,
    at_us: int,
    latency_ms: float | None,
    tags: Mapping[str, str],
    response_id: str | None,
    raw_usage: str | None,
    service_tier: str | None = None,
    opened: seen.Reporting | None = None,
) -> None:
    """Queue one reported call for the writer, to be priced and written; dropped if an
    instrumented client sent its request while `opened` (`seen.begin()` as the call
    started) was open: that client records it. `tags` is the
    tag scope when the call started (a snapshot: `tagging.snapshot()`, or a dict of its own).
    Nothing while recording is off."""
    if opened is not None and not seen.end(opened):
        duplicates[provider] += 1
        return
    if not enabled():
        return
    deliver_reported(
        Observation(
            provider=provider,
            model=model or "unknown",
            api="reported",
            tokens=tokens,
            usage_source=usage_source if usable else "unknown",
            pricing_mode=pricing_mode(service_tier),
            status="ok",
            http_status=None,
            at_us=at_us,
            latency_ms=latency_ms,
            provider_response_id=response_id or None,
            raw_usage=raw_usage,
            tags=tags if isinstance(tags, dict) else dict(tags),
        )
    )
