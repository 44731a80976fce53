"""The pricer: resolves a (provider, model) to a catalog entry and prices usage exactly.

Name resolution follows genai-prices: the provider by id or its matching clause, then the
provider's models in order, then its fallback providers' models (without mode variants, as
genai-prices does), then the same with a compact date suffix (`-20251211`) rewritten. User
overrides are tried first. Results are cached per (provider, model), so the hot path is a dict
lookup and one call into the Rust core.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .._core import Catalog
from . import clauses
from .compile import core_json

__all__ = ["PriceRule", "Priced", "Pricer", "Resolution"]

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_COMPACT_DATE = re.compile(r"-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


def _closest(name: str, known: list[str] | tuple[str, ...]) -> str | None:
    # 0.75: catches a swapped or missing letter ("opneai", "bacth", "antropic") without
    # suggesting "modal" for "local"; an exact match after case folding ("Batch") counts.
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which compiled model prices a name, and how."""

    index: int
    variants: bool
    """False when the model was found through a fallback provider: mode variants do not apply."""
    valid_from_us: int | None
    """An override applies from its earliest `since` on; before it, `fallback` prices the call."""
    fallback: Resolution | None
    discount_ppm: int


@dataclass(frozen=True, slots=True)
class PriceRule:
    """The rule that produced a cost: enough to explain or recompute it."""

    snapshot_id: str
    source: str
    """`catalog` (genai-prices) or `override`."""
    provider: str
    """The catalog provider of the matched entry (`*` for a provider-less override)."""
    model: str
    """The matched entry's model id."""
    version: str
    """Label of the dated price version used: `default`, `from 2026-01-01`, `daily ... UTC`."""
    effective_from: dt.date | None
    variant: str | None
    """The pricing mode whose variant rates applied, if any."""
    tier: int | None
    """The tier threshold the total input crossed, if any."""
    discount_percent: Decimal | None

    def columns(self) -> tuple:
        """The rule as the ledger row's `price_*` columns, in schema order."""
        return (
            self.snapshot_id,
            self.source,
            self.provider,
            self.model,
            self.version,
            self.variant,
            self.tier,
        )


@dataclass(frozen=True, slots=True)
class Priced:
    """Exact cost in pico-USD, per bucket and in total, with its rule."""

    costs: tuple[int, ...]
    request_fee: int
    total: int
    rule: PriceRule | None
    """None only for a failed call, which is not billed."""
    index: int
    """The compiled model that priced it."""


class Pricer:
    """A compiled catalog (genai-prices data plus overrides) ready to price calls."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
        self.snapshot_id = hashlib.sha256(canonical).hexdigest()
        self.snapshot_content = zlib.compress(canonical, 6)
        self.core = Catalog(json.dumps(core_json(spec)))
        self._models = spec["models"]
        self._providers = {p["id"]: p for p in spec["providers"]}
        self._discounts: dict[str, int] = spec["overrides"]["discounts"]
        # Providers the user names: by a model override or a discount.
        self._override_providers = {
            self._models[i]["provider"] for i in spec["overrides"]["models"]
        } | set(self._discounts)
        self._modes = {m: i for i, m in enumerate(spec["modes"])}
        self._resolved: dict[tuple[str, str], Resolution | None] = {}
        self._provider_ids: dict[str, str] = {}
        self._rules: dict[tuple, PriceRule] = {}

    @classmethod
    def from_snapshot(cls, content: bytes) -> Pricer:
        """A pricer from a stored snapshot's content (as `snapshot_content`)."""
        return cls(json.loads(zlib.decompress(content)))

    @property
    def source(self) -> str:
        """What the catalog was built from, e.g. `genai-prices 0.2.3 + 2 overrides`."""
        n = len(self.spec["overrides"]["models"]) + len(self._discounts)
        return self.spec["source"] + (f" + {n} overrides" if n else "")

    @property
    def modes(self) -> tuple[str, ...]:
        """The pricing modes a call can be priced under: `standard`, then the catalog's variants
        (`batch`, `flex`, `priority`...)."""
        return ("standard", *self._modes)

    def prices_model(self, model: str) -> bool:
        """Whether some provider, of the catalog or of an override, prices `model`."""
        providers = [p["id"] for p in self.spec["providers"]]
        providers += [self._models[i]["provider"] for i in self.spec["overrides"]["models"]]
        return any(self.resolve(p, model) is not None for p in dict.fromkeys(providers))

    def mode_index(self, mode: str) -> int | None:
        """The core's index of a pricing mode; None for modes no variant names (standard)."""
        return self._modes.get(mode)

    def discount_ppm(self, provider: str) -> int:
        """The configured discount for catalog prices of a provider, in parts per million."""
        name = provider.lower().strip()
        if name in self._discounts:
            return self._discounts[name]
        return self._discounts.get(self.canonical_provider(provider) or name, 0)

    def provider_id(self, provider: str) -> str:
        """The id a ledger row stores: a provider an override names, as named; else the
        catalog's id when known; else the name lower-cased.

        An override's own provider comes first because the catalog recognises providers by
        loose clauses ("contains openai"): without it, `openai-eu`, a deployment the user
        prices on its own, would be stored and priced as `openai`."""
        try:
            return self._provider_ids[provider]
        except KeyError:
            name = provider.lower().strip()
            if name not in self._override_providers:
                name = self.canonical_provider(provider) or name
            self._provider_ids[provider] = name
            return name

    def canonical_provider(self, provider: str) -> str | None:
        """The catalog's id for a provider name (`gemini` -> `google`), or None if unknown."""
        name = provider.lower().strip()
        if name in self._providers:
            return name
        for p in self.spec["providers"]:
            if p["match"] is not None and clauses.matches(p["match"], name):
                return p["id"]
        return None

    def knows_provider(self, provider: str) -> bool:
        """Whether the catalog or an override names this provider."""
        return (
            self.canonical_provider(provider) is not None
            or provider.lower().strip() in self._override_providers
        )

    def closest_provider(self, provider: str) -> str | None:
        """The known provider id an unknown name most likely misspells, or None."""
        names = [*self._providers, *(self._override_providers - {"*"})]
        return _closest(provider.lower().strip(), names)

    def closest_mode(self, mode: str) -> str | None:
        """The pricing mode an unknown one most likely misspells, or None."""
        return _closest(mode.lower().strip(), self.modes)

    def model_id(self, provider: str, model: str) -> str | None:
        """The id of the model entry that prices `model` called through `provider`: one id for
        every name the entry's matching takes ("gpt-4o" and "gpt-4o-2024-08-06" are both
        "gpt-4o"); None when nothing prices it."""
        resolution = self.resolve(provider, model)
        return None if resolution is None else self._models[resolution.index]["id"]

    def resolve(self, provider: str, model: str) -> Resolution | None:
        """The compiled model that prices `model` called through `provider`, or None."""
        key = (provider, model)
        try:
            return self._resolved[key]
        except KeyError:
            resolution = self._resolved[key] = self._resolve(provider, model.lower())
            return resolution

    def _resolve(self, provider: str, name: str) -> Resolution | None:
        canonical = self.canonical_provider(provider)
        catalog = self._resolve_catalog(canonical, name, self.discount_ppm(provider))
        for index in self.spec["overrides"]["models"]:
            entry = self._models[index]
            if entry["provider"] in ("*", canonical, provider.lower()) and clauses.matches(
                entry["match"], name
            ):
                first = entry["versions"][0]["when"]
                valid_from = None if first is None else first["from_day"] * _US_PER_DAY
                return Resolution(index, True, valid_from, catalog, 0)
        return catalog

    def _resolve_catalog(
        self, canonical: str | None, name: str, discount: int
    ) -> Resolution | None:
        if canonical is None:
            return None
        for ref in dict.fromkeys((name, _COMPACT_DATE.sub(r"-\1-\2-\3", name))):
            if (index := self._find(canonical, ref)) is not None:
                return Resolution(index, True, None, None, discount)
            for other in self._providers[canonical]["fallback"]:
                if (index := self._find(other, ref)) is not None:
                    return Resolution(index, False, None, None, discount)
        return None

    def _find(self, provider: str, name: str) -> int | None:
        start, end = self._providers[provider]["models"]
        for index in range(start, end):
            if clauses.matches(self._models[index]["match"], name):
                return index
        return None

    def price(
        self,
        resolution: Resolution,
        ts_us: int,
        mode: str,
        tokens: tuple[int, ...],
    ) -> Priced | None:
        """Prices `tokens` (the 8 buckets) at `ts_us` in `mode` under `resolution`; None when
        only an override prices the model and the call predates it."""
        if resolution.valid_from_us is not None and ts_us < resolution.valid_from_us:
            if resolution.fallback is None:
                return None
            resolution = resolution.fallback
        mode_index = self._modes.get(mode) if resolution.variants else None
        costs, fee, total, version, tier, variant = self.core.price(
            resolution.index, ts_us, mode_index, tokens, resolution.discount_ppm
        )
        key = (resolution.index, version, mode if variant else None, tier, resolution.discount_ppm)
        rule = self._rules.get(key)
        if rule is None:
            rule = self._rules[key] = self._rule(*key)
        return Priced(costs, fee, total, rule, resolution.index)

    def _rule(
        self, index: int, version: int, variant: str | None, tier: int | None, discount_ppm: int
    ) -> PriceRule:
        entry = self._models[index]
        when = entry["versions"][version]["when"]
        effective = None
        if when is not None and "from_day" in when:
            effective = _EPOCH + dt.timedelta(days=when["from_day"])
        return PriceRule(
            snapshot_id=self.snapshot_id,
            source=entry["source"],
            provider=entry["provider"],
            model=entry["id"],
            version=entry["versions"][version]["label"],
            effective_from=effective,
            variant=variant,
            tier=tier,
            discount_percent=Decimal(discount_ppm).scaleb(-4) if discount_ppm else None,
        )
