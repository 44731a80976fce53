"""Pages that show no latency percentiles are answered from the nightly job's daily rollup
table: after `llmledger reaggregate` and `llmledger prune` of the range's first week (no
archive kept), their figures are still every call's, exactly, on each backend."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from starlette.testclient import TestClient

import llmledger
import llmledger.dashboard
from llmledger.analytics.planner import CallsPruned
from llmledger.money import usd
from llmledger.store import make_engine

from .conftest import RANGE
from .test_pages import kpi

PRUNED_BEFORE = dt.date(2026, 10, 8)


@pytest.fixture
def pruned(ledger_url):
    """{page: its figures before the prune}, the ledger's first week pruned since."""
    engine = make_engine(ledger_url)
    pages = [f"/?{RANGE}", f"/?{RANGE}&stack=model", f"/tags/tenant?{RANGE}"]
    pages.append(f"/tags/tenant/acme?{RANGE}")
    with TestClient(llmledger.dashboard.app(engine)) as client:
        before = {page: client.get(page) for page in pages}
    llmledger.reaggregate(engine, progress=io.StringIO(), archive=False)
    done = llmledger.prune(engine, before=PRUNED_BEFORE, progress=io.StringIO())
    assert done.calls > 0
    yield engine, before
    engine.dispose()


def test_pages_without_percentiles_keep_every_calls_figures_after_a_prune(pruned):
    engine, before = pruned
    with TestClient(llmledger.dashboard.app(engine)) as client:
        for page, earlier in before.items():
            assert earlier.status_code == 200
            now = client.get(page)
            assert now.status_code == 200, now.text[:300]
            for name in ("spend", "calls", "tokens"):
                if f'data-kpi="{name}"' in earlier.text:
                    assert kpi(now.text, name) == kpi(earlier.text, name), (page, name)
        # The tag page's table: every value's spend, as before.
        rows = llmledger.rollup(
            engine, by=["tenant"], since="2026-10-01", until="2026-10-15", latency="mean"
        )
        page = client.get(f"/tags/tenant?{RANGE}").text
        assert all(usd(r["cost"]) in page for r in rows.iter_rows(named=True))
        assert page == before[f"/tags/tenant?{RANGE}"].text


def test_percentiles_of_pruned_calls_are_refused_not_made_up(pruned):
    """`/models` shows p50/p95, which only the calls themselves give: with the first week
    pruned and no archive, the range is refused, and the rest still answers."""
    engine, _ = pruned
    with pytest.raises(CallsPruned):
        llmledger.rollup(engine, by=["model"], since="2026-10-01", until="2026-10-15")
    with TestClient(llmledger.dashboard.app(engine)) as client:
        assert client.get(f"/models?from={PRUNED_BEFORE}&to=2026-10-14").status_code == 200
