"""The reservations of `Budget(reserve=True)` on each database: atomic under racing threads,
all or nothing across scopes, expired ones ignored and swept, and released by the writer in
the transaction that adds the call's cost."""

from __future__ import annotations

import threading
import time

from ledger_rows import make_row
from sqlalchemy import func, select

from llmledger.store import Writer, read_totals
from llmledger.store.reservations import (
    RESERVATION_SECONDS,
    Hold,
    budget_reservations,
    release_now,
    reserve,
    sweep,
)
from llmledger.store.totals import Calendar, Scope, TotalsSpec
from llmledger.store.totals_sql import rebuild_totals

SPEC = TotalsSpec()
APP = Scope()


def now_us() -> int:
    return time.time_ns() // 1000


def day_hold(amount: int, limit: int, at_us: int, scope: Scope = APP) -> Hold:
    (_, start, _), *_ = Calendar(SPEC).periods(at_us)
    return Hold("day", start, scope.key, amount, limit)


def held(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(budget_reservations)).scalar()


def test_racing_threads_reserve_exactly_what_the_limit_allows(engine):
    at = now_us()
    hold = day_hold(7, 7 * 5, at)  # five fit
    granted = []

    def one(i: int) -> None:
        if reserve(engine, f"ev{i:030d}", [hold], at) is None:
            granted.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 5
    assert held(engine) == 5
    assert reserve(engine, "ev" + "x" * 30, [hold], at) == (hold, 35)


def test_all_or_nothing_across_scopes(engine):
    at = now_us()
    tenant = Scope({"tenant": "acme"})
    roomy, tight = day_hold(10, 100, at), day_hold(10, 15, at, tenant)
    assert reserve(engine, "e1" + "0" * 30, [roomy, tight], at) is None
    assert reserve(engine, "e2" + "0" * 30, [roomy, tight], at) == (tight, 10)
    assert held(engine) == 2  # the first call's two rows; none of the second's
    release_now(engine, "e1" + "0" * 30)
    assert held(engine) == 0


def test_expired_reservations_hold_nothing_and_are_swept(engine):
    at = now_us()
    hold = day_hold(10, 10, at)
    assert reserve(engine, "dead" + "0" * 28, [hold], at) is None  # a process killed mid-call
    assert reserve(engine, "next" + "0" * 28, [hold], at) == (hold, 10)
    later = at + RESERVATION_SECONDS * 1_000_000
    assert reserve(engine, "next" + "0" * 28, [hold], later) is None
    assert sweep(engine, later) == 1  # the dead one; the new one expires later
    assert held(engine) == 1


def test_the_writer_settles_a_reservation_with_the_calls_cost(engine, tmp_path):
    rebuild_totals(engine, SPEC)
    row = make_row(1, at_us=now_us(), tags={})
    hold = day_hold(row["cost"] + 5, row["cost"] + 5, row["at_us"])
    assert reserve(engine, row["event_id"], [hold], row["at_us"]) is None
    writer = Writer(engine, spool_path=tmp_path / "s.jsonl", totals=SPEC,
                    release_reservations=True)  # fmt: skip
    writer.submit(row)
    assert writer.flush(timeout=30) is True
    writer.close()
    assert held(engine) == 0
    with engine.connect() as connection:
        spent = read_totals(connection, SPEC, [APP])[APP]["day"].cost
    assert spent == row["cost"]
    # Now the cost is spent, not reserved: 5 pico-USD are left.
    one_too_many = hold._replace(amount=6)
    assert reserve(engine, "e" * 32, [one_too_many], row["at_us"]) == (one_too_many, spent)
    assert reserve(engine, "e" * 32, [hold._replace(amount=5)], row["at_us"]) is None
