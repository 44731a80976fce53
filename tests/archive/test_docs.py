"""The archive's snippets in docs/analytics.md run as written, and give the rollup's numbers."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from analytics.sql_rows import insert_rows, random_rows

from archive.ledgers import run
from llmledger.analytics import rollup
from llmledger.store import make_engine, upgrade

DOCS = Path(__file__).parents[2] / "docs" / "analytics.md"


def snippets() -> list[str]:
    text = DOCS.read_text().split("## The archive: closed days in a Delta Lake table")[1]
    section = text.split("## Rollups on Ray")[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def pico(cost: Decimal | None) -> int:
    return 0 if cost is None else int(cost.scaleb(12))


def test_the_archive_snippets_run_and_agree_with_rollup(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_ARCHIVE_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///ledger.db")
    upgrade(engine)
    insert_rows(engine, random_rows(300, seed=31))
    run(engine, True)  # the default location: ledger.db.archive
    found = snippets()
    assert len(found) == 3
    namespace = {"uri": "ledger.db.archive"}
    for code in found:
        exec(compile(code, str(DOCS), "exec"), namespace)

    expected = rollup(engine, ["model"], bucket="day", since="2026-01-02").sort("day", "model")
    assert namespace["by_model"].sort("day", "model").to_dicts() == expected.to_dicts()
    polars = namespace["by_model_polars"]
    assert polars["calls"].to_list() == expected["calls"].to_list()
    assert polars["cost_pico_usd"].to_list() == [pico(c) for c in expected["cost"]]
    by_tenant = rollup(engine, ["tenant"], since="2026-01-02").sort("tenant", nulls_last=True)
    duckdb = namespace["by_tenant_duckdb"]
    assert duckdb["tenant"].to_list() == by_tenant["tenant"].to_list()
    assert duckdb["calls"].to_list() == by_tenant["calls"].to_list()
    assert [int(c) for c in duckdb["cost_pico_usd"]] == [pico(c) for c in by_tenant["cost"]]
    engine.dispose()
