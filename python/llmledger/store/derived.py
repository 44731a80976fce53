"""The tables the nightly job derives from the ledger (created by migration 0002), read by
`calls()` and the rollups too.

`llmledger_daily_rollup`: one row per UTC day and group (provider, model, pricing mode and the
configured tag keys), sums in pico-USD and tokens; `cost` is what was recorded, and
`backfilled_cost` what the job priced later for calls recorded unpriced, kept apart so a
recorded number never changes silently. `llmledger_backfill`: one row per call the job priced
after the fact, with the snapshot and rule that priced it. `llmledger_reaggregate_state`: the
watermark (highest ledger `id` rolled up) and the tag keys the rollup groups by.

After `llmledger prune` (migration 0006): `llmledger_pruned_rollup`, shaped as the daily
rollup, holds the sums of the calls pruned from the ledger, by day and group, so a day is
always rolled up as its pruned sums plus the calls the ledger still holds.
`llmledger_prune_state` holds the prune horizon (`pruned_before_us`).

`llmledger_daily_models` (migration 0008): the daily rollup summed over its tags, one row per
UTC day, provider, model and pricing mode. The job writes a day's rows from the day's daily
rollup rows in the same transaction, so the two always agree. A question without tags (spend
by model per day, a provider's month) reads it: a few hundred rows a day, where the daily
rollup may hold nearly a row per call once tenants and features multiply its groups.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Date,
    Double,
    Float,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.dialects import postgresql

from .schema import BUCKETS

__all__ = [
    "LOOKBACK_IDS",
    "backfill",
    "daily_models",
    "daily_rollup",
    "metadata",
    "prune_state",
    "pruned_before_us",
    "pruned_rollup",
    "state",
]

LOOKBACK_IDS = 10_000
"""How far below its watermark the nightly job looks again: on a server database a slow
writer's row can commit after the job read MAX(id), with an id below it. The job (daily
rollups and archive alike) recomputes the days of the last LOOKBACK_IDS ids, and the planner
reads those days from the ledger."""

metadata = MetaData()
_Json = JSON().with_variant(postgresql.JSONB(), "postgresql")
_Double = Float(precision=53).with_variant(Double(), "mysql", "mariadb")


def _rollup_columns() -> list[Column]:
    return [
        Column("day", Date, primary_key=True),
        # sha256 of the group's (provider, model, pricing_mode, tags): a fixed-width key,
        # since tag values are unbounded text.
        Column("group_key", String(64), primary_key=True),
        Column("provider", String(64), nullable=False),
        Column("model", String(255), nullable=False),
        Column("pricing_mode", String(32), nullable=False),
        Column("tags", _Json, nullable=False),
        *_sum_columns(),
    ]


def _sum_columns() -> list[Column]:
    return [
        Column("calls", BigInteger, nullable=False),
        Column("unpriced_calls", BigInteger, nullable=False),
        Column("backfilled_calls", BigInteger, nullable=False),
        *(Column(b, BigInteger, nullable=False) for b in BUCKETS),
        Column("cost", BigInteger, nullable=False),
        Column("backfilled_cost", BigInteger, nullable=False),
        Column("latency_ms_sum", _Double, nullable=False),
        Column("latency_calls", BigInteger, nullable=False),
        Column("latency_ms_max", _Double),
    ]


daily_rollup = Table("llmledger_daily_rollup", metadata, *_rollup_columns())

daily_models = Table(
    "llmledger_daily_models",
    metadata,
    Column("day", Date, primary_key=True),
    Column("provider", String(64), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("pricing_mode", String(32), primary_key=True),
    *_sum_columns(),
)

pruned_rollup = Table("llmledger_pruned_rollup", metadata, *_rollup_columns())
"""What `llmledger prune` deleted, summed as the daily rollup sums: added in the transaction
that deletes the calls, so the two never disagree."""

prune_state = Table(
    "llmledger_prune_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("before_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)
""""horizon": calls before `before_us` (a UTC midnight) may have been pruned from the ledger."""

state = Table(
    "llmledger_reaggregate_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("watermark_id", BigInteger, nullable=False),
    Column("tag_keys", _Json, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

backfill = Table(
    "llmledger_backfill",
    metadata,
    Column("call_id", BigInteger, primary_key=True, autoincrement=False),
    Column("at_us", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("price_snapshot_id", String(64), nullable=False),
    Column("price_source", String(16), nullable=False),
    Column("price_provider", String(64), nullable=False),
    Column("price_model", String(255), nullable=False),
    Column("price_version", String(64), nullable=False),
    Column("price_variant", String(32)),
    Column("price_tier", BigInteger),
    Column("backfilled_at_us", BigInteger, nullable=False),
)


def pruned_before_us(connection: Connection) -> int | None:
    """The prune horizon: calls dated before this instant (UTC microseconds, a UTC midnight)
    may have been deleted from the ledger by `llmledger prune`; None if nothing ever was.

    Below it the ledger is not the whole record: a day's sums are its daily rollup rows (which
    keep the pruned calls' sums), and its calls are in the archive. So nothing may rebuild a
    day below the horizon from the ledger's rows alone (the archive, the rollup planner).
    """
    return connection.execute(
        select(prune_state.c.before_us).where(prune_state.c.name == "horizon")
    ).scalar_one_or_none()
