"""What a preflight counts: the totals it read (cached) plus the calls this process accepted
and has not written yet, exact whichever side of a write and of a cache refresh it reads."""

from __future__ import annotations

import time

from ledger_rows import make_row

import llmledger
from llmledger.budgets.check import Guard
from llmledger.store import Scope, TotalsSpec
from llmledger.store.inserter import Inserter
from llmledger.store.totals_sql import ensure_totals

SPEC = TotalsSpec("UTC", ("tenant",), ("day", "month"))
ACME = Scope({"tenant": "acme"})


def test_spent_is_exact_across_writes_and_cache_refreshes(engine) -> None:
    ensure_totals(engine, SPEC)
    budget = llmledger.Budget("day", usd=1, per="tenant", action="block")
    guard = Guard([budget], engine, SPEC)
    pending, inserter = guard.pending, Inserter(engine, 500, SPEC)
    now_us = time.time_ns() // 1000
    r1, r2, r3 = (make_row(n, at_us=now_us + n, tags={"tenant": "acme"}) for n in (1, 2, 3))
    c1, c2, c3 = r1["cost"], r2["cost"], r3["cost"]

    pending.accept([r1, r2])  # queued, not written
    assert guard.spent(ACME, "day") == guard.spent(ACME, "month") == c1 + c2
    inserter.insert([r1])
    pending.settle([r1])  # written after the cached read: counted once
    assert guard.spent(ACME, "day") == c1 + c2
    guard._cache.clear()  # the cache expired: read again
    assert guard.spent(ACME, "day") == c1 + c2
    inserter.insert([r2])
    pending.settle([r2])
    assert guard.spent(ACME, "day") == c1 + c2
    inserter.insert([r3])  # another process's call: seen once the cache expires
    assert guard.spent(ACME, "day") == c1 + c2
    guard._cache.clear()
    assert guard.spent(ACME, "day") == c1 + c2 + c3
    assert guard.spent(Scope({"tenant": "globex"}), "day") == 0


def test_an_unpriced_call_counts_nothing_and_a_spooled_one_leaves_the_count(engine) -> None:
    budget = llmledger.Budget("day", usd=1, per="tenant", action="block")
    guard = Guard([budget], engine, SPEC)
    now_us = time.time_ns() // 1000
    unpriced = make_row(1, at_us=now_us, cost=None, tags={"tenant": "acme"})
    priced = make_row(2, at_us=now_us, tags={"tenant": "acme"})
    guard.pending.accept([unpriced, priced])
    assert guard.spent(ACME, "day") == priced["cost"]
    guard.pending.settle([priced])  # spooled through an outage: back when replayed
    assert guard.spent(ACME, "day") == priced["cost"]  # until the cached read expires
    guard._cache.clear()
    assert guard.spent(ACME, "day") == 0
