import datetime as dt
import subprocess
import sys
import textwrap

import sqlalchemy as sa

import llmledger
from llmledger.pricing import pricer_from_snapshot
from llmledger.store import load_snapshot

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_configure_accepts_an_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    llmledger.configure(engine)
    try:
        llmledger.track("openai", "gpt-4o", input_tokens=7)
        assert llmledger.calls()["input_tokens"].to_list() == [7]
    finally:
        llmledger.shutdown()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from llmledger_calls")).scalar() == 1


def test_exit_without_flush_writes_every_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    script = textwrap.dedent(
        f"""
        import llmledger
        llmledger.configure({url!r})
        for i in range(5000):
            llmledger.track("openai", "gpt-4o-mini", input_tokens=i)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count, total = conn.execute(
            sa.text("select count(*), sum(input_tokens) from llmledger_calls")
        ).one()
    assert (count, total) == (5000, sum(range(5000)))


def test_snapshot_stored_once_and_reprices_identically(ledger):
    calls = [
        llmledger.track("anthropic", "claude-sonnet-4-5", input_tokens=i, output_tokens=3)
        for i in range(50)
    ]
    llmledger.flush()
    engine = llmledger.config.state().engine
    with engine.connect() as conn:
        ids = conn.execute(sa.text("select id from llmledger_price_snapshots")).scalars().all()
        assert ids == [calls[0].price_rule.snapshot_id]
        content = load_snapshot(conn, ids[0])
    # The stored snapshot alone prices the calls to the same pico-USD, by the same rule.
    pricer = pricer_from_snapshot(content)
    assert pricer.snapshot_id == ids[0]
    resolution = pricer.resolve("anthropic", "claude-sonnet-4-5")
    for call in calls:
        ts_us = (call.at - EPOCH) // dt.timedelta(microseconds=1)
        tokens = tuple(call.usage[b] for b in llmledger.BUCKETS)
        stored = pricer.price(resolution, ts_us, "standard", tokens)
        assert stored.total == call.cost_pico
        assert stored.rule == call.price_rule
