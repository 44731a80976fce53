"""Compiles genai-prices' bundled data into the ledger's catalog spec.

The spec is plain JSON-able data: providers with their matching clauses and model lists, and
per model its dated price versions and per-mode variants, rates already converted to integer
pico-USD. Its canonical JSON is what a price snapshot stores and what its content id hashes;
the Rust core receives the pricing part of it (see `core_json`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import types as gp

from . import clauses
from .rates import PRICE_KEYS, rate_from_price

__all__ = ["FORMAT", "compile_genai_prices", "compile_rates", "core_json", "mode_of"]

FORMAT = 1
"""Version of the spec's shape; part of the content id."""

_EPOCH = dt.date(1970, 1, 1)


def mode_of(when: dict[str, str]) -> str:
    """The ledger's pricing mode for a genai-prices variant condition.

    `processing=batch` is the `batch` mode and `service_tier=X` is mode `X` (flex, priority...),
    matching what the providers report; any other condition keeps its `key=value` form.
    """
    ((key, value),) = when.items()
    if key == "processing" or key == "service_tier":
        return value
    return f"{key}={value}"


def _when(constraint: Any) -> dict[str, Any] | None:
    match constraint:
        case None:
            return None
        case gp.StartDateConstraint(start_date=day):
            return {"from_day": (day - _EPOCH).days}
        case gp.TimeOfDateConstraint(start_time=start, end_time=end):
            return {"daily": [_utc_seconds(start), _utc_seconds(end)]}
    raise TypeError(f"unknown genai-prices constraint {constraint!r}")


def _utc_seconds(t: dt.time) -> int:
    if t.tzinfo is not None:
        t = dt.datetime.combine(_EPOCH, t).astimezone(dt.UTC).time()
    return t.hour * 3600 + t.minute * 60 + t.second


def version_label(when: dict[str, Any] | None) -> str:
    """A short human label for a version's condition, stored on each priced row."""
    if when is None:
        return "default"
    if "from_day" in when:
        return "from " + (_EPOCH + dt.timedelta(days=when["from_day"])).isoformat()
    start, end = when["daily"]

    def hhmm(seconds: int) -> str:
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"

    return f"daily {hhmm(start)}-{hhmm(end)} UTC"


@dataclass
class _Counter:
    """How many rates had to be rounded to the pico-USD while compiling."""

    rounded: int = 0


def compile_rates(prices: dict[str, Any], counter: _Counter | None = None) -> dict[str, Any]:
    """Integer rates for the price keys the ledger understands; other keys are left out."""
    rates: dict[str, Any] = {}
    for key, price in prices.items():
        if key not in PRICE_KEYS or price is None:
            continue
        if isinstance(price, gp.TieredPrices):
            base, tiers = price.base, [(t.start, t.price) for t in price.tiers]
        elif isinstance(price, dict):  # user override: {"base": ..., "tiers": [[start, price]]}
            base, tiers = Decimal(price["base"]), [(int(s), Decimal(p)) for s, p in price["tiers"]]
        else:
            base, tiers = Decimal(price), []
        base_rate, rounded = rate_from_price(key, base)
        tier_rates = []
        for start, tier_price in sorted(tiers):
            rate, tier_rounded = rate_from_price(key, tier_price)
            tier_rates.append([start, rate])
            rounded |= tier_rounded
        if counter is not None and rounded:
            counter.rounded += 1
        rates[key] = {"base": base_rate, "tiers": tier_rates}
    return rates


def _model(provider_id: str, model: gp.ModelInfo, modes: dict[str, int], c: _Counter) -> dict:
    if isinstance(model.prices, gp.ModelPrice):
        conditional = [(None, model.prices)]
    else:
        conditional = [(cp.constraint, cp.prices) for cp in model.prices]
    versions = []
    for constraint, prices in conditional:
        when = _when(constraint)
        versions.append(
            {"when": when, "label": version_label(when), "rates": compile_rates(vars(prices), c)}
        )
    variants = []
    for variant in model.price_variants or ():
        rates = compile_rates(vars(variant.prices), c)
        if not rates:  # e.g. service_tier=default: the standard rates
            continue
        mode = modes.setdefault(mode_of(variant.when), len(modes))
        variants.append({"mode": mode, "when": _when(variant.constraint), "rates": rates})
    return {
        "provider": provider_id,
        "id": model.id,
        "name": model.name,
        "source": "catalog",
        "match": clauses.from_genai_prices(model.match),
        "versions": versions,
        "variants": variants,
    }


def compile_genai_prices() -> dict[str, Any]:
    """The catalog spec of genai-prices' bundled data (its network updater is never used)."""
    from genai_prices.data import providers

    modes: dict[str, int] = {}
    counter = _Counter()
    models: list[dict] = []
    out_providers = []
    for provider in providers:
        first = len(models)
        models.extend(_model(provider.id, m, modes, counter) for m in provider.models)
        out_providers.append(
            {
                "id": provider.id,
                "match": clauses.from_genai_prices(provider.provider_match)
                if provider.provider_match
                else None,
                "fallback": provider.fallback_model_providers or [],
                "models": [first, len(models)],
            }
        )
    return {
        "format": FORMAT,
        "source": f"genai-prices {genai_prices.__version__}",
        "modes": list(modes),
        "providers": out_providers,
        "models": models,
        "rounded_rates": counter.rounded,
        "overrides": {"models": [], "discounts": {}},
    }


def core_json(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a spec the Rust core prices with (`rust/pricing/catalog.rs`)."""
    return {
        "modes": spec["modes"],
        "models": [
            {
                "versions": [{"when": v["when"], "rates": v["rates"]} for v in m["versions"]],
                "variants": m["variants"],
            }
            for m in spec["models"]
        ],
    }
