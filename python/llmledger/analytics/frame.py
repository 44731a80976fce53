"""From a ledger frame to the Rust kernels' input, shared by the in-memory and SQL paths.

A frame shaped like `llmledger.calls()` (or the `llmledger_calls` columns read from SQL) goes to
the core without a copy: top-level columns as they are, each tag of the `tags` struct as a
column `tags.<key>`. The core encodes key columns to dictionary codes once per `Prepared` and
reuses them, so preparing a frame once and running several rollups on it pays the encoding
once. Model names are resolved to catalog entries once per distinct (provider, model), never
per row.

A call's cost is what was recorded, else what the nightly job priced it at later
(`backfilled_cost`, when the ledger has that column): the kernels see that one `cost`, so a
call priced by the backfill counts as priced everywhere, and the calls it priced are kept
apart (`Prepared.backfilled`) for a rollup to say how much of its cost they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core
from ..pricing import Pricer, Resolution

__all__ = ["TIME_UNITS", "Prepared", "call_cost", "check_what_if", "prepare", "repricing"]

TIME_UNITS = ("hour", "day", "month")
"""Names that, in `by`, mean a time bucket rather than a column."""

_MIN_US = -(2**63)


# The calls recorded unpriced that the nightly job priced later, for Arrow and for Polars
# (Arrow has no filter for the string views Polars exports).
_LATER = pc.is_null(pc.field("cost")) & pc.is_valid(pc.field("backfilled_cost"))
_LATER_POLARS = pl.col("cost").is_null() & pl.col("backfilled_cost").is_not_null()


def call_cost(columns: Sequence[str]) -> pl.Expr:
    """Each call's cost in a frame with `columns`: recorded, else backfilled."""
    if "backfilled_cost" in columns:
        return pl.coalesce("cost", "backfilled_cost")
    return pl.col("cost")


def _columns(frame: pl.DataFrame) -> dict[str, pl.Series]:
    """The ledger columns of `frame` by the core's names: each top-level column but `tags`,
    and the `tags` struct (which the core reads as a column `tags.<key>` per tag)."""
    columns = {s.name: s for s in frame.get_columns() if s.name != "tags"}
    if isinstance(frame.schema.get("tags"), pl.Struct):
        columns["tags"] = frame.get_column("tags")
    return columns


def _integer_tags(schema: pl.Schema) -> frozenset[str]:
    """The core's names (`tags.<key>`) of the integer tags of a frame with `schema`."""
    tags = schema.get("tags")
    if not isinstance(tags, pl.Struct):
        return frozenset()
    return frozenset(f"tags.{f.name}" for f in tags.fields if f.dtype.is_integer())


def _priced_later(rows: pa.Table) -> pa.Table:
    """`rows` (those `_LATER` keeps) with the later price as their cost."""
    at = rows.schema.get_field_index("cost")
    return rows.set_column(at, "cost", rows["backfilled_cost"]).drop_columns("backfilled_cost")


class Prepared:
    """A ledger frame handed to the Rust core, its key columns encoded on first use."""

    frame: pl.DataFrame | None
    """The frame, for re-pricing per call; None for a ledger read from SQL for a rollup."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        schema = frame.schema
        if "at" in schema:
            self.time_column = "at"
            at = frame.get_column("at")
            if at.dtype != pl.Datetime("us", "UTC"):
                at = at.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        elif "at_us" in schema:
            self.time_column = "at_us"
            at = frame.get_column("at_us")
        else:
            raise ValueError(
                "not a ledger: no time column `at` (as `llmledger.calls()` gives) or `at_us`; "
                f"the frame has {', '.join(schema) or 'no columns'}"
            )
        self.tags: tuple[str, ...] = ()
        if isinstance(schema.get("tags"), pl.Struct):
            self.tags = tuple(f.name for f in schema["tags"].fields)  # type: ignore[union-attr]
        columns = {n: s for n, s in _columns(frame).items() if n not in ("at", "at_us")}
        columns = {self.time_column: at, **columns}
        self.backfilled: Prepared | None = None
        if "backfilled_cost" in schema:
            later = frame.filter(_LATER_POLARS).with_columns(cost=pl.col("backfilled_cost"))
            if later.height:
                self.backfilled = Prepared(later.drop("backfilled_cost").rechunk())
            columns["cost"] = frame.select(call_cost(schema)).to_series()
        # Column by column: a Polars frame exports each column's chunks as they are, but a
        # frame of several chunks (a concatenation, a frame read in parts) only after copying
        # it into one; and converting it to Arrow record batches costs more per chunk than
        # the kernels spend on a chunk of a few thousand rows.
        self.ledger = _core.Ledger.from_columns(list(columns.items()))
        integers = frozenset(n for n, c in columns.items() if c.dtype.is_integer())
        self.integer_columns = integers | _integer_tags(schema)
        self.top_level = frozenset(schema) - {"tags"}
        # Re-pricing tables by (pricer, as_mode, as_model): the core caches each one's per-row
        # costs, so several rollups of one prepared ledger re-price it once.
        self.repricings: dict[tuple[int, str | None, str | None], tuple[Pricer, Any]] = {}

    @classmethod
    def from_arrow(cls, table: pa.Table, tags: Sequence[str]) -> Prepared:
        """A ledger read from SQL as flat Arrow columns (`at_us`, the others, each tag `k` as
        `tags.k`), handed to the core as it is: converting it to a Polars frame first would
        copy every string, a noticeable share of a rollup's time next to the read."""
        return cls._of_table(table, tags, "at_us")

    @classmethod
    def _of_table(cls, table: pa.Table, tags: Sequence[str], time_column: str) -> Prepared:
        prepared = cls.__new__(cls)
        prepared.frame = None
        prepared.time_column = time_column
        prepared.tags = tuple(tags)
        prepared._hand_over(table)
        prepared.top_level = frozenset(n for n in table.column_names if not n.startswith("tags."))
        prepared.repricings = {}
        return prepared

    def _hand_over(self, table: pa.Table, later: pa.Table | None = None) -> None:
        """Gives `table` to the core with each call's cost: recorded, else backfilled; and
        `later` (the calls priced later, as `_priced_later` gives them; found here if not
        given) as `backfilled`."""
        self.backfilled: Prepared | None = None
        if "backfilled_cost" in table.column_names:
            recorded, backfilled = table["cost"], table["backfilled_cost"]
            if later is None:
                later = _priced_later(table.filter(_LATER))
            if later.num_rows:
                self.backfilled = Prepared._of_table(later, self.tags, self.time_column)
            cost = pc.coalesce(recorded, backfilled)
            table = table.set_column(table.schema.get_field_index("cost"), "cost", cost)
        self.ledger = _core.Ledger(table)
        self.integer_columns = frozenset(
            f.name for f in table.schema if pa.types.is_integer(f.type)
        )

    def column(self, key: str) -> str | None:
        """The core's column for a key: a top-level column, else a tag (None if no row has it)."""
        if key in self.top_level:
            return key
        return f"tags.{key}" if key in self.tags else None

    def filter_value(self, column: str, value: str | int) -> str | int | None:
        """`value` as the core compares it with `column`'s values, matching as the SQL
        filters do (`llmledger.store.filters`): as text. None when no value can match (the
        text of no integer, for an integer column)."""
        text = str(value)
        if column not in self.integer_columns:
            return text
        return int(text) if text.lstrip("-").isdigit() and str(int(text)) == text else None

    def with_keys(self, keys: Sequence[str]) -> Prepared:
        """This ledger, with each of `keys` that is neither a column nor a tag of it added as a
        tag no row has (null). A frame's `tags` struct holds only the tags its rows have, so a
        window where no call carries one (a quiet day's empty frame) lacks it; SQL reads such a
        tag as null on every row, and grouping by it here does the same instead of failing."""
        absent = [k for k in keys if k not in TIME_UNITS and self.column(k) is None]
        if not absent:
            return self
        # A ledger read from SQL has a column for every tag it was read for.
        assert self.frame is not None, "an in-memory ledger"
        tags = self.frame.schema.get("tags")
        if tags is not None and not isinstance(tags, pl.Struct):
            raise KeyError(
                f"{absent[0]!r} is not a column of the ledger, and its tags are not a struct"
            )
        nulls = [pl.lit(None, pl.String).alias(k) for k in absent]
        added = pl.struct(nulls) if tags is None else pl.col("tags").struct.with_fields(nulls)
        return Prepared(self.frame.with_columns(added.alias("tags")))


def prepare(source: Any) -> Prepared:
    """Hands a Polars DataFrame or LazyFrame (collected), or any Arrow table or stream, to the
    core once."""
    if isinstance(source, Prepared):
        return source
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    elif source is None:  # not an empty ledger: a frame or engine that was never made
        raise TypeError("a ledger is an Engine, a database URL, a Polars frame or an Arrow table")
    elif not isinstance(source, pl.DataFrame):
        source = pl.DataFrame(source)
    return Prepared(source)


def repricing(
    prepared: Prepared,
    pricer: Pricer,
    as_mode: str | None = None,
    as_model: str | None = None,
) -> _core.Repricing:
    """The core's re-pricing tables for the frame under `pricer`: one route per distinct
    (provider, model) and pricing mode, optionally as if every call had used `as_mode`, or
    had been made to `as_model` (`provider/model`). Cached on `prepared`."""
    target = check_what_if(pricer, as_mode, as_model)
    key = (id(pricer), as_mode, as_model)
    cached = prepared.repricings.get(key)
    if cached is not None and cached[0] is pricer:
        return cached[1]
    tables = _repricing(prepared, pricer, as_mode, target)
    prepared.repricings[key] = (pricer, tables)
    return tables


def check_what_if(pricer: Pricer, as_mode: str | None, as_model: str | None) -> Resolution | None:
    """The catalog entry `as_model` names (None without one), after checking the what-if: it
    must name a mode the catalog prices, and a model as `provider/model` that the catalog or
    its overrides price. An unknown mode would silently price every call at its standard
    rates, an unknown model leave every call unpriced; and a bare model name is ambiguous (one
    model is sold by several providers, at their own prices) and stays so as catalogs grow."""
    if as_mode is not None and as_mode not in pricer.modes:
        raise ValueError(
            f"as_mode {as_mode!r} is not a pricing mode of this catalog; "
            f"it has {', '.join(pricer.modes)}"
        )
    if as_model is None:
        return None
    provider, slash, name = as_model.partition("/")
    providers = _providers(pricer)
    if not (slash and provider and name):
        sellers = [f"{p}/{as_model}" for p in providers if _prices_directly(pricer, p, as_model)]
        hint = f"this catalog has {', '.join(sellers)}" if sellers else "no provider prices it"
        raise ValueError(
            f"as_model {as_model!r} names no provider: give it as provider/model, "
            f"e.g. openai/gpt-4o-mini ({hint})"
        )
    resolution = pricer.resolve(provider, name)
    if resolution is None:
        message = f"as_model {as_model!r} is priced by neither this catalog nor its overrides"
        if pricer.canonical_provider(provider) is None and provider not in providers:
            close = difflib.get_close_matches(provider, providers, n=1)
            message += f"; no provider is called {provider!r}"
            message += f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(message)
    return resolution


def _providers(pricer: Pricer) -> list[str]:
    """The catalog's provider ids, then the providers named by overrides."""
    providers = [p["id"] for p in pricer.spec["providers"]]
    providers += [pricer.spec["models"][i]["provider"] for i in pricer.spec["overrides"]["models"]]
    return list(dict.fromkeys(providers))


def _prices_directly(pricer: Pricer, provider: str, model: str) -> bool:
    """Whether `provider` itself (not one it falls back to) prices `model`."""
    resolution = pricer.resolve(provider, model)
    return resolution is not None and resolution.variants


def _repricing(
    prepared: Prepared, pricer: Pricer, as_mode: str | None, target: Resolution | None
) -> _core.Repricing:
    models: list[tuple[str | None, str | None]] = prepared.ledger.distinct(["provider", "model"])
    has_mode = "pricing_mode" in prepared.top_level
    modes: list[str | None] = prepared.ledger.distinct(["pricing_mode"]) if has_mode else [None]
    pairs: dict[tuple[int, int | None], int] = {}

    def route(index: int, variants: bool, mode: str | None, ppm: int) -> tuple[int, int]:
        mode_index = pricer.mode_index(mode or "standard") if variants else None
        pair = pairs.setdefault((index, mode_index), len(pairs))
        return pair, ppm

    routes = []
    for provider, model in models:
        # As `as_model`, every call is priced by that one entry, whoever served it.
        res = target
        if res is None and provider is not None and model is not None:
            res = pricer.resolve(provider, model)
        for mode in modes:
            mode = as_mode or mode
            if res is None:
                routes.append((_MIN_US, None, None))
                continue
            main = route(res.index, res.variants, mode, res.discount_ppm)
            if res.valid_from_us is None:
                routes.append((_MIN_US, main, None))
                continue
            fb = res.fallback
            before = None if fb is None else route(fb.index, fb.variants, mode, fb.discount_ppm)
            routes.append((res.valid_from_us, main, before))
    return _core.Repricing(
        pricer.core,
        list(pairs),
        ["provider", "model"],
        "pricing_mode" if has_mode else None,
        routes,
    )
