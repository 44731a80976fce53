"""What a recorded (or quoted) call looks like to the user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from ..pricing import Priced, PriceRule, from_pico
from ..store.schema import BUCKETS

__all__ = ["Call", "Quote"]


class Quote:
    """A call priced against the catalog: exact cost per bucket, and the rule used."""

    __slots__ = ("_priced", "_tokens", "at", "model", "pricing_mode", "provider")

    def __init__(
        self,
        provider: str,
        model: str,
        at: dt.datetime,
        pricing_mode: str,
        tokens: tuple[int, ...],
        priced: Priced | None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.at = at
        self.pricing_mode = pricing_mode
        self._tokens = tokens
        self._priced = priced

    @property
    def usage(self) -> Mapping[str, int]:
        """Token counts per bucket (disjoint: see the README)."""
        return MappingProxyType(dict(zip(BUCKETS, self._tokens, strict=True)))

    @property
    def cost(self) -> Decimal | None:
        """Total cost in USD, exact; None when the model has no price (never a made-up zero)."""
        return None if self._priced is None else from_pico(self._priced.total)

    @property
    def cost_pico(self) -> int | None:
        """Total cost in pico-USD (1e-12 USD), the ledger's stored integer."""
        return None if self._priced is None else self._priced.total

    @property
    def cost_breakdown(self) -> Mapping[str, Decimal] | None:
        """Cost per token bucket (and `request` for a per-request fee), USD; sums to `cost`."""
        if self._priced is None:
            return None
        parts = dict(zip(BUCKETS, map(from_pico, self._priced.costs), strict=True))
        if self._priced.request_fee:
            parts["request"] = from_pico(self._priced.request_fee)
        return MappingProxyType(parts)

    @property
    def price_rule(self) -> PriceRule | None:
        """The catalog snapshot, entry, dated version, variant and tier that priced the call."""
        return None if self._priced is None else self._priced.rule

    @property
    def priced(self) -> bool:
        return self._priced is not None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.provider}/{self.model}, cost={self.cost}, "
            f"at={self.at.isoformat()}, mode={self.pricing_mode})"
        )


class Call(Quote):
    """One recorded call, as `llmledger.track()` returns it.

    `usage_source` says where its tokens came from: "response" or "stream_final" (what the
    provider reported, in its response or its stream's last events; also what LiteLLM and
    LangChain relay), "estimated" (counted from the text), "unknown" (usage that could not
    be used), "manual" (`track()`), "otel" (an OpenTelemetry GenAI span's attributes)."""

    __slots__ = (
        "event_id",
        "http_status",
        "latency_ms",
        "provider_response_id",
        "status",
        "tags",
        "usage_source",
    )

    def __init__(
        self,
        provider: str,
        model: str,
        at: dt.datetime,
        pricing_mode: str,
        tokens: tuple[int, ...],
        priced: Priced | None,
        *,
        event_id: str,
        tags: Mapping[str, str],
        usage_source: str,
        status: str,
        http_status: int | None,
        latency_ms: float | None,
        provider_response_id: str | None,
    ) -> None:
        super().__init__(provider, model, at, pricing_mode, tokens, priced)
        self.event_id = event_id
        self.tags = tags
        self.usage_source = usage_source
        self.status = status
        self.http_status = http_status
        self.latency_ms = latency_ms
        self.provider_response_id = provider_response_id
