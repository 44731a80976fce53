"""Prices: the genai-prices catalog with dated history, user overrides, exact integer costs."""

from __future__ import annotations

import copy
from functools import cache
from os import PathLike
from typing import Any

from .compile import compile_genai_prices
from .overrides import OverridesError, apply_overrides, load_overrides
from .pricer import Priced, Pricer, PriceRule, Resolution
from .rates import from_pico, to_pico

__all__ = [
    "OverridesError",
    "PriceRule",
    "Priced",
    "Pricer",
    "Resolution",
    "build_pricer",
    "from_pico",
    "pricer_from_snapshot",
    "to_pico",
]


@cache
def _catalog_spec() -> dict[str, Any]:
    return compile_genai_prices()


def build_pricer(overrides: dict[str, Any] | str | PathLike[str] | None = None) -> Pricer:
    """A pricer over genai-prices' bundled catalog plus `overrides` (see `overrides` module)."""
    if not overrides:
        return _default_pricer()
    spec = copy.deepcopy(_catalog_spec())
    apply_overrides(spec, load_overrides(overrides))
    return Pricer(spec)


@cache
def _default_pricer() -> Pricer:
    return Pricer(_catalog_spec())


def pricer_from_snapshot(content: bytes) -> Pricer:
    """A pricer from a stored price snapshot's content, to explain or recompute old costs."""
    return Pricer.from_snapshot(content)
