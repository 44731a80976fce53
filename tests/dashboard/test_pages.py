"""Every page and filter over HTTP on SQLite, PostgreSQL and MariaDB, figures checked exactly
against `llmledger.rollup()` on the same database, formatted by the one money rule."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import polars as pl
import pytest

import llmledger
from llmledger.dashboard.formatting import latency
from llmledger.money import usd

from .conftest import FORMULA_VALUE, HOSTILE_KEY, HOSTILE_MODEL, HOSTILE_VALUE, RANGE, SPIKE


def kpi(page: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">([^<]*)<', page)
    assert found, f"no {name} figure on the page"
    return html.unescape(found.group(1)).strip()


def totals(url: str, since: str, until: str, **where) -> dict:
    rows = llmledger.rollup(url, since=since, until=until, where=where or None)
    row = rows.row(0, named=True)
    row["tokens"] = sum(row[b] for b in llmledger.BUCKETS)
    return row


def test_overview_totals_and_changes(client, ledger_url):
    page = client.get(f"/?{RANGE}").text
    now = totals(ledger_url, "2026-10-01", "2026-10-15")
    assert kpi(page, "spend") == usd(now["cost"])
    assert kpi(page, "calls") == f"{now['calls']:,}" == "106"
    assert kpi(page, "tokens") == f"{now['tokens']:,}"
    assert kpi(page, "unpriced") == f"{Decimal(now['unpriced_calls']) / now['calls'] * 100:.1f}%"
    # The previous range is empty: every change reads "new".
    assert page.count(">new vs ") == 3
    # The chart: an SVG with its text alternative, one bar per provider and day with spend.
    assert "<svg" in page and '<title id="chart-title">Daily spend by provider' in page
    assert page.count('<rect class="s') == 14 * 2


def test_overview_flags_the_spike_with_its_rule(client):
    page = client.get(f"/?{RANGE}").text
    banner = re.search(r'<div class="banner" role="alert">(.*?)</div>', page, re.S).group(1)
    assert f"{SPIKE} spent" in banner
    assert "more than 3 times the median daily spend of the 7 days before it" in banner


def test_overview_filtered_by_provider_and_tag(client, ledger_url):
    page = client.get(f"/?{RANGE}&provider=openai&tag=tenant:acme&stack=model").text
    now = totals(ledger_url, "2026-10-01", "2026-10-15", provider="openai", tenant="acme")
    assert kpi(page, "spend") == usd(now["cost"])
    assert kpi(page, "calls") == str(now["calls"])


def test_models_figures_and_sorting(client, ledger_url):
    page = client.get(f"/models?{RANGE}&sort=calls&dir=desc").text
    rows = llmledger.rollup(
        ledger_url, by=["provider", "model"], since="2026-10-01", until="2026-10-15"
    )
    for r in rows.iter_rows(named=True):
        assert html.escape(r["model"], quote=False) in page
        assert usd(r["cost"]) in page
        assert latency(r["latency_ms_p50"]) in page and latency(r["latency_ms_p95"]) in page
    order = re.findall(r"<td>(openai|anthropic|acme-gateway)</td>", page)
    by_calls = rows.sort(["calls", "provider"], descending=[True, False])["provider"].to_list()
    assert order == by_calls
    assert client.get(f"/models?{RANGE}&sort=bogus").status_code == 400


def test_tags_values_and_drill_down(client, ledger_url):
    keys = client.get(f"/tags?{RANGE}").text
    assert "feature" in keys and "tenant" in keys and html.escape(HOSTILE_KEY) in keys
    page = client.get(f"/tags/tenant?{RANGE}").text
    rows = llmledger.rollup(ledger_url, by=["tenant"], since="2026-10-01", until="2026-10-15")
    for r in rows.filter(pl.col("tenant").is_not_null()).iter_rows(named=True):
        assert usd(r["cost"]) in page
    acme = client.get(f"/tags/tenant/acme?{RANGE}")
    assert acme.status_code == 200
    own = totals(ledger_url, "2026-10-01", "2026-10-15", tenant="acme")
    assert kpi(acme.text, "spend") == usd(own["cost"])
    assert kpi(acme.text, "calls") == str(own["calls"])
    assert "<h2>By feature</h2>" in acme.text and "<svg" in acme.text
    assert client.get(f"/tags/tenant/nobody?{RANGE}").status_code == 404
    assert client.get(f"/tags/tenat?{RANGE}").status_code == 404


def test_calls_filters_order_and_pages(client, ledger_url):
    first = client.get(f"/calls?{RANGE}").text
    assert first.count('<tr>\n  <td><a href="/calls/') == 50 and 'rel="next"' in first
    third = client.get(f"/calls?{RANGE}&page=3").text
    assert third.count('<td><a href="/calls/') == 6 and 'rel="next"' not in third
    by_cost = client.get(f"/calls?{RANGE}&order=cost&priced=priced").text
    costs = llmledger.rollup(ledger_url, by=["event_id"], since="2026-10-01", until="2026-10-15")
    top = costs.sort("cost", descending=True, nulls_last=True)["cost"][0]
    assert re.search(r'<td class="num">([^<]*)', by_cost).group(1).strip() == usd(top)
    unpriced = client.get(f"/calls?{RANGE}&priced=unpriced").text
    assert unpriced.count('<td><a href="/calls/') == 14
    failed = client.get(f"/calls?{RANGE}&status=error").text
    assert failed.count('<td><a href="/calls/') == 2
    estimated = client.get(f"/calls?{RANGE}&priced=estimated").text
    assert estimated.count('<td><a href="/calls/') == 1 and "est.</abbr>" in estimated


def test_call_page_and_missing_call(client, ledger_url):
    row = llmledger.rollup(ledger_url, by=["event_id", "model"], where={"provider": "openai"})
    event_id, model = row["event_id"][0], row["model"][0]
    page = client.get(f"/calls/{event_id}").text
    assert model in page and "input_tokens" in page and "Price rule" in page
    assert kpi(page, "cost") == usd(row["cost"][0])
    assert "genai-prices" in page  # the snapshot's source
    assert client.get("/calls/0123456789abcdef").status_code == 404


def test_csv_export_is_exact_and_neutralised(client, ledger_url):
    response = client.get(f"/calls.csv?{RANGE}")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 106
    everything = totals(ledger_url, "2026-10-01", "2026-10-15")
    assert sum(Decimal(r["cost"]) for r in rows if r["cost"]) == everything["cost"]
    tenants = {r["tag:tenant"] for r in rows}
    assert "'" + FORMULA_VALUE in tenants and FORMULA_VALUE not in tenants
    assert HOSTILE_VALUE in tenants  # text, harmless in a CSV
    header = response.text.splitlines()[0]
    assert f"tag:{HOSTILE_KEY}" in header
    assert {r[f"tag:{HOSTILE_KEY}"] for r in rows if r["provider"] == "acme-gateway"} == {
        "'" + FORMULA_VALUE
    }
    only = list(csv.DictReader(io.StringIO(client.get(f"/calls.csv?{RANGE}&status=error").text)))
    assert [r["status"] for r in only] == ["error", "error"]


def test_quality(client, ledger_url):
    page = client.get(f"/quality?{RANGE}").text
    assert html.escape(HOSTILE_MODEL) in page
    assert "&#34;model&#34;: &#34;&lt;img src=x onerror=alert(1)&gt;&#34;" in page  # the override
    assert kpi(page, "estimated").startswith("1 calls")
    assert '>error</a></td><td class="num">2</td>' in page


def test_hostile_strings_are_escaped_everywhere(client):
    for path in ["/", "/models", "/tags", "/tags/tenant", "/calls", "/quality"]:
        page = client.get(f"{path}?{RANGE}&tag=tenant:{HOSTILE_VALUE}").text
        for raw in (HOSTILE_VALUE, HOSTILE_MODEL, HOSTILE_KEY):
            assert raw not in page, (path, raw)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "from must be a date"),
        ("from=2026-10-10&to=2026-10-01", "is after to"),
        ("from=2020-01-01&to=2026-01-01", "longer than 732 days"),
        ("tag=tenant", "tag=key:value"),
        ("tag=tenant:a&tag=tenant:b", "filtered on twice"),
        ("tag=tenat:acme&" + RANGE, "did you mean &#39;tenant&#39;"),
        ("provider=a&provider=b", "provider is given 2 times"),
        ("model=" + "x" * 300, "longer than 255"),
        ("stack=color", "stack must be one of"),
    ],
)
def test_bad_filters_get_a_400_page(client, query, message):
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_bad_calls_filters(client):
    for query in ("page=0", "page=99999", "order=oldest", "priced=maybe"):
        response = client.get(f"/calls?{query}")
        assert response.status_code == 400, query


def test_read_only(client):
    assert client.post("/", data={}).status_code == 405
    assert client.delete("/calls/x").status_code == 405


def test_csv_export_continues_page_after_page(client, ledger_url, monkeypatch):
    """Pages of 7 calls: every call once, newest first, ties in time broken by id."""
    from llmledger.dashboard import calls as calls_module

    monkeypatch.setattr(calls_module, "EXPORT_PAGE", 7)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/calls.csv?{RANGE}").text)))
    assert len(rows) == 106 == len({r["event_id"] for r in rows})
    times = [r["at"] for r in rows]
    assert times == sorted(times, reverse=True)
