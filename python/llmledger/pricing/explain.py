"""`llmledger prices explain`: which rule prices a model, its rates, and the cost of some usage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..store.schema import BUCKETS
from .pricer import Pricer
from .rates import PRICE_KEYS, from_pico

__all__ = ["explain"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _usd(key: str, pico: int) -> str:
    """A rate back in the catalog's own unit (USD per MTok, or per thousand requests)."""
    unit = "K requests" if key == "requests_kcount" else "MTok"
    value = (Decimal(pico) / PRICE_KEYS[key]).normalize()
    return f"${value:f} / {unit}"


def _rates(rates: dict[str, Any]) -> list[str]:
    lines = []
    for key, rate in rates.items():
        tiers = "".join(
            f"; above {start:,} input tokens {_usd(key, r)}" for start, r in rate["tiers"]
        )
        lines.append(f"    {key:<22} {_usd(key, rate['base'])}{tiers}")
    return lines


def explain(
    pricer: Pricer,
    provider: str,
    model: str,
    at: dt.datetime | None,
    mode: str,
    buckets: dict[str, int],
) -> tuple[str, bool]:
    """The explanation as text, and whether the model could be priced."""
    at = at or dt.datetime.now(dt.UTC)
    ts_us = (at - _EPOCH) // dt.timedelta(microseconds=1)
    head = f"{provider} / {model} at {at.isoformat()} ({mode})"
    resolution = pricer.resolve(provider, model)
    priced = (
        None
        if resolution is None
        else pricer.price(resolution, ts_us, mode, tuple(buckets[b] for b in BUCKETS))
    )
    if priced is None:
        known = pricer.canonical_provider(provider)
        why = (
            "no catalog entry or override matches this model"
            if known
            else f"provider {provider!r} is not in the catalog"
        )
        return (
            f"{head}\n  cannot be priced: {why} ({pricer.source}).\n"
            "  Calls are still recorded, with cost NULL (unpriced).\n"
            "  To price them, add an override:\n"
            f'    {{"models": [{{"provider": "{provider}", "model": "{model}", '
            '"prices": {"input_mtok": "...", "output_mtok": "..."}}]}',
            False,
        )
    rule = priced.rule
    entry = pricer.spec["models"][priced.index]
    lines = [
        head,
        f"  source      {rule.source} ({pricer.source}), snapshot {rule.snapshot_id[:16]}",
        f"  matched     {rule.provider} / {rule.model}"
        + (f" ({entry['name']})" if entry.get("name") else ""),
        "  versions    "
        + ", ".join(
            ("[" + v["label"] + "]") if v["label"] == rule.version else v["label"]
            for v in entry["versions"]
        ),
    ]
    version = next(v for v in entry["versions"] if v["label"] == rule.version)
    lines += ["  rates of " + rule.version + ":", *_rates(version["rates"])]
    if rule.variant:
        for variant in entry["variants"]:
            if pricer.spec["modes"][variant["mode"]] == mode:
                lines += [f"  {mode} rates replacing them:", *_rates(variant["rates"])]
    elif mode != "standard":
        # A mode the catalog knows, but not for this model (or not yet, a variant has its
        # own start date): say so, or the standard rates above would read as this mode's.
        lines.append(
            f"  note        the catalog has no {mode} rates for this model on {at:%Y-%m-%d}: "
            f"its {mode} calls are priced at the rates above"
        )
    if rule.tier is not None:
        lines.append(
            f"  tier        total input above {rule.tier:,} tokens: every token at the tier rate"
        )
    if rule.discount_percent:
        lines.append(f"  discount    {rule.discount_percent}% off catalog prices (override)")
    if any(buckets.values()):
        lines.append("  cost")
        for bucket, cost in zip(BUCKETS, priced.costs, strict=True):
            if count := buckets[bucket]:
                lines.append(f"    {bucket:<22} {count:>12,} tokens  ${from_pico(cost):f}")
        if priced.request_fee:
            lines.append(f"    {'request fee':<22} {'':>19}  ${from_pico(priced.request_fee):f}")
        lines.append(f"    {'total':<22} {'':>19}  ${from_pico(priced.total):f}")
    else:
        lines.append(
            "  cost        give token counts to price usage: --input-tokens N --output-tokens N"
        )
    return "\n".join(lines), True
