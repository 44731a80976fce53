"""Property: whatever mix of new rows, rows already written, copies within a batch and
refused rows reaches the writer, in whatever batches, the totals equal the ledger's sums."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_rows import T0, make_row

from budgets.oracle import expected, stored
from llmledger.store import Writer, make_engine, upgrade
from llmledger.store.totals import TotalsSpec

SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant", ("feature", "tenant")), models=True)
DAY_US = 86_400_000_000

calls = st.builds(
    lambda n, day, tenant, feature, unpriced, refused: make_row(
        n,
        at_us=T0 + day * DAY_US // 3,
        tags={k: v for k, v in (("tenant", tenant), ("feature", feature)) if v is not None},
        **({"cost": None, "model": "house-model"} if unpriced else {}),
        **({"input_tokens": 2**64} if refused else {}),
    ),
    n=st.integers(0, 40),  # few numbers: the same event_id comes back often
    day=st.integers(0, 100),
    tenant=st.sampled_from(["acme", "globex", None]),
    feature=st.sampled_from(["chat", None]),
    unpriced=st.booleans(),
    refused=st.integers(0, 9).map(lambda x: x == 0),
)
_databases = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(calls, max_size=30), min_size=1, max_size=4))
def test_totals_equal_the_ledger_whatever_comes(tmp_path, batches):
    n = next(_databases)
    engine = make_engine(f"sqlite:///{tmp_path / f'ledger{n}.db'}")
    upgrade(engine)
    for batch in batches:  # each batch a writer's run (a process, a replay)
        writer = Writer(engine, spool_path=tmp_path / f"spool{n}.jsonl", totals=SPEC)
        for row in batch:
            writer.submit(row)
        assert writer.flush(timeout=60)
        writer.close()
    assert stored(engine, SPEC) == expected(engine, SPEC)
    engine.dispose()
