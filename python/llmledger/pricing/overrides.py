"""User price overrides: negotiated or custom model prices, and per-provider discounts.

Accepted as a dict or a JSON/TOML file path::

    {
        "models": [
            {"provider": "openai", "model": "ft:gpt-4o-mini:acme:v1",
             "prices": {"input_mtok": "0.30", "output_mtok": "1.20"}},
            {"model": "my-gateway-", "match": "prefix", "since": "2026-11-01",
             "prices": {"input_mtok": "1", "output_mtok": "2"}},
            {"provider": "openai", "model": "ft:gpt-4o-mini:acme:v1", "mode": "batch",
             "prices": {"input_mtok": "0.15", "output_mtok": "0.60"}},
        ],
        "discounts": {"anthropic": "12.5"},
    }

Entries for the same provider, model and match form one override with dated versions (`since`,
a UTC date) and mode variants (`mode`). An override wins over the catalog from its earliest
`since` on; before that the catalog prices the call. Its prices replace the catalog entry
whole, so list every key the model is billed for: a key left out costs nothing. A discount is a
percentage off the catalog's prices for calls to that provider; it does not apply to
overrides, which are already the price you pay. Prices are USD per million tokens (`*_mtok`)
or per thousand requests (`requests_kcount`), as decimal strings or integers (floats are
refused: they cannot hold most prices exactly); a tiered price is
`{"base": "1.25", "tiers": [[200000, "2.50"]]}`.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from decimal import Decimal, InvalidOperation
from os import PathLike
from pathlib import Path
from typing import Any

from .compile import compile_rates, version_label
from .rates import PRICE_KEYS

__all__ = ["OverridesError", "apply_overrides", "load_overrides"]

_EPOCH = dt.date(1970, 1, 1)


class OverridesError(ValueError):
    """Price overrides that cannot be used; the message names the entry and the field."""


def load_overrides(source: dict[str, Any] | str | PathLike[str]) -> dict[str, Any]:
    """The overrides as a dict, read from a JSON or TOML file when given a path."""
    if isinstance(source, dict):
        return source
    if not isinstance(source, str | PathLike):
        raise OverridesError(
            "price overrides are a dict or the path of a JSON or TOML file, "
            f"not {type(source).__name__}"
        )
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as exc:
        raise OverridesError(f"cannot read price overrides file {path}: {exc}") from exc
    try:
        loaded = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise OverridesError(f"price overrides file {path} is not valid: {exc}") from exc
    if not isinstance(loaded, dict):
        raise OverridesError(
            f"price overrides file {path} holds a {type(loaded).__name__}, not a table"
        )
    return loaded


def _decimal(where: str, value: Any) -> Decimal:
    if isinstance(value, float):
        raise OverridesError(f"{where}: give prices as strings or integers, not floats ({value!r})")
    try:
        price = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise OverridesError(f"{where}: {value!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise OverridesError(f"{where}: {value!r} is not a non-negative price")
    return price


def _prices(where: str, prices: Any) -> dict[str, Any]:
    if not isinstance(prices, dict) or not prices:
        raise OverridesError(f"{where}.prices: a non-empty mapping of price keys is required")
    out: dict[str, Any] = {}
    for key, value in prices.items():
        if key not in PRICE_KEYS:
            known = ", ".join(PRICE_KEYS)
            raise OverridesError(f"{where}.prices: unknown price key {key!r} (known: {known})")
        if isinstance(value, dict):
            tiers = value.get("tiers", [])
            out[key] = {
                "base": _decimal(f"{where}.prices.{key}.base", value.get("base")),
                "tiers": [[int(s), _decimal(f"{where}.prices.{key}.tiers", p)] for s, p in tiers],
            }
        else:
            out[key] = _decimal(f"{where}.prices.{key}", value)
    return out


def _since(where: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise OverridesError(f"{where}.since: {value!r} is not an ISO date") from None
    return (day - _EPOCH).days


def apply_overrides(spec: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Adds the overrides to a compiled catalog spec, in place."""
    unknown = set(overrides) - {"models", "discounts"}
    if unknown:
        raise OverridesError(f"price overrides: unknown section(s) {sorted(unknown)}")
    entries, discounts = overrides.get("models", []), overrides.get("discounts", {})
    if not isinstance(entries, list):
        raise OverridesError(f"price_overrides.models: a list of entries, not {entries!r}")
    if not isinstance(discounts, dict):
        raise OverridesError(
            f"price_overrides.discounts: provider names to percentages, not {discounts!r}"
        )
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        where = f"price_overrides.models[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise OverridesError(f"{where}: an entry needs a 'model' name")
        extra = set(entry) - {"provider", "model", "match", "prices", "since", "mode"}
        if extra:
            raise OverridesError(f"{where}: unknown field(s) {sorted(extra)}")
        match = entry.get("match", "exact")
        if match not in ("exact", "prefix"):
            raise OverridesError(f"{where}.match: 'exact' or 'prefix', not {match!r}")
        provider = str(entry.get("provider", "*")).lower()
        key = (provider, entry["model"].lower(), match)
        model = grouped.setdefault(key, {"versions": [], "variants": {}})
        prices = compile_rates(_prices(where, entry.get("prices")))
        since = _since(where, entry.get("since"))
        when = None if since is None else {"from_day": since}
        if "mode" in entry:
            model["variants"][str(entry["mode"])] = {"when": when, "rates": prices}
        else:
            model["versions"].append({"when": when, "label": version_label(when), "rates": prices})

    modes = spec["modes"]
    for (provider, name, match), model in grouped.items():
        if not model["versions"]:
            raise OverridesError(
                f"price_overrides: {name!r} has only mode prices; give its standard prices too"
            )
        model["versions"].sort(key=lambda v: -1 if v["when"] is None else v["when"]["from_day"])
        variants = []
        for mode, variant in model["variants"].items():
            if mode not in modes:
                modes.append(mode)
            variants.append({"mode": modes.index(mode), **variant})
        spec["overrides"]["models"].append(len(spec["models"]))
        spec["models"].append(
            {
                "provider": provider,
                "id": name,
                "name": None,
                "source": "override",
                "match": ["eq" if match == "exact" else "sw", name],
                "versions": model["versions"],
                "variants": variants,
            }
        )

    for provider, percent in discounts.items():
        where = f"price_overrides.discounts.{provider}"
        ppm = _decimal(where, percent) * 10_000
        if ppm > 1_000_000 or ppm != ppm.to_integral_value():
            raise OverridesError(f"{where}: a percentage from 0 to 100 with at most 4 decimals")
        spec["overrides"]["discounts"][provider.lower()] = int(ppm)
