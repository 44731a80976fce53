"""The spend totals budgets read, after a prune, on SQLite, PostgreSQL and MariaDB: every
period keeps its total (a closed period's is the record of what was spent); the periods from
the horizon on still equal the sum of the ledger's call costs; a rebuild of the totals keeps
both; calls written late into a pruned period add to its total."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from analytics.sql_rows import D0, DAY_US
from budgets.oracle import expected, stored
from ledger_rows import make_row

from llmledger import prune
from llmledger.store import Writer
from llmledger.store.totals import TotalsSpec
from llmledger.store.totals_sql import rebuild_totals
from prune.ledgers import job

SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant",), models=True)
HOUR_US = 3_600_000_000
HORIZON = dt.date(2026, 2, 1)  # inside February in Berlin, which began at 23:00 UTC before
HORIZON_AT = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


HOUSE_CALL = {
    "cost": None,
    "provider": "acme-gateway",
    "model": "house-model",
    **dict.fromkeys(("price_snapshot_id", "price_source", "price_provider", "price_model"), None),
    **dict.fromkeys(("price_version", "price_variant", "price_tier"), None),
}


def house_cost(row: dict) -> int:
    """What the nightly job prices a house call at: $1.25/Mtok in, $5/Mtok out, pico-USD."""
    return row["input_tokens"] * 1_250_000 + row["output_tokens"] * 5_000_000


def calls(first: int, n: int, start_us: int, step_us: int) -> list[dict]:
    """Calls from `start_us` every `step_us`, over three tenants; every fifth unpriced (the
    house model, which the nightly job then prices)."""
    out = []
    for i in range(first, first + n):
        tags = {"tenant": ("acme", "globex", "initech")[i % 3]}
        extra = HOUSE_CALL if i % 5 == 0 else {}
        out.append(make_row(i, at_us=start_us + (i - first) * step_us, tags=tags, **extra))
    return out


def write(engine, spool_path, rows: list[dict]) -> None:
    writer = Writer(engine, spool_path=spool_path, totals=SPEC)
    for row in rows:
        writer.submit(row)
    assert writer.flush(timeout=60)
    writer.close()


def starts_from_horizon(key: tuple) -> bool:
    start = dt.datetime.fromisoformat(key[1]).replace(tzinfo=ZoneInfo(SPEC.tz))
    return start >= HORIZON_AT


def test_totals_after_a_prune(engine, tmp_path):
    spool = tmp_path / "spool.jsonl"
    # From 2026-01-01 06:00 UTC, a call every 11 hours to mid-March.
    write(engine, spool, calls(0, 160, D0 * DAY_US + 6 * HOUR_US, 11 * HOUR_US))
    job(engine)  # rolls up, and prices the house model's calls into the totals
    before = stored(engine, SPEC)
    assert before == expected(engine, SPEC)

    pruned = prune(engine, before=HORIZON, progress=io.StringIO())
    assert pruned.calls == 68  # 2026-01-01 06:00 to 2026-01-31 23:00 UTC, every 11 hours
    assert stored(engine, SPEC) == before  # every period keeps its total
    ledger_sums = expected(engine, SPEC)
    # From the horizon on, the totals are the ledger's own sums, exactly.
    assert {k: v for k, v in before.items() if starts_from_horizon(k)} == {
        k: v for k, v in ledger_sums.items() if starts_from_horizon(k)
    }
    # Before it, the ledger no longer has January; its totals stay the record.
    january = ("month", "2026-01-01", (), None, None)
    assert january not in ledger_sums
    assert before[january][0] == 67  # the 68th, at 23:00 UTC on the 31st, is February's in
    # Berlin: the closed February keeps it, though the ledger has lost it.
    february = ("month", "2026-02-01", (), None, None)
    assert before[february][0] == ledger_sums[february][0] + 1

    rebuild_totals(engine, SPEC)  # as a writer does when the budgets change
    assert stored(engine, SPEC) == before

    # Calls written late, dated in pruned January: the writer adds them to its totals.
    late = calls(500, 10, D0 * DAY_US + 9 * DAY_US, HOUR_US)
    write(engine, spool, late)
    job(engine)
    after = stored(engine, SPEC)
    calls_then, cost_then, unpriced_then = before[january]
    cost = sum(r["cost"] if r["cost"] is not None else house_cost(r) for r in late)
    assert after[january] == (calls_then + 10, cost_then + cost, unpriced_then)
    assert {k: v for k, v in after.items() if starts_from_horizon(k)} == {
        k: v for k, v in expected(engine, SPEC).items() if starts_from_horizon(k)
    }
