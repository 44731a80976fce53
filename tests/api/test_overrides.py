import datetime as dt
from decimal import Decimal

import pytest

import llmledger

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


@pytest.fixture
def overridden(tmp_path):
    llmledger.configure(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        price_overrides={
            "models": [
                {
                    "provider": "openai",
                    "model": "ft:gpt-4o-mini:acme:v1",
                    "prices": {"input_mtok": "0.30", "output_mtok": "1.20"},
                },
                {
                    "model": "house-",
                    "match": "prefix",
                    "since": "2026-11-01",
                    "prices": {"input_mtok": 2},
                },
                {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "since": "2026-11-01",
                    "prices": {"input_mtok": "2"},
                },
            ],
            "discounts": {"anthropic": "12.5"},
        },
    )
    yield
    llmledger.shutdown()


def test_custom_model_price(overridden):
    call = llmledger.track(
        "openai", "ft:gpt-4o-mini:acme:v1", input_tokens=1000, output_tokens=500, at=AT
    )
    assert call.cost == Decimal("0.0003") + Decimal("0.0006")
    assert call.price_rule.source == "override"


def test_override_wins_over_the_catalog_from_its_date(overridden):
    # Negotiated gpt-4o input at $2 from 2026-11-01; output has no override price, so it is free
    # under the override: overrides replace the whole entry, they are not merged.
    now = llmledger.quote("openai", "gpt-4o", input_tokens=1000, at=AT)
    assert now.cost == Decimal("0.002")
    assert now.price_rule.source == "override"
    before = llmledger.quote(
        "openai", "gpt-4o", input_tokens=1000, at=dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
    )
    assert before.cost == Decimal("0.0025")
    assert before.price_rule.source == "catalog"


def test_prefix_override_for_any_provider(overridden):
    call = llmledger.quote("acme-gateway", "house-llama-70b", input_tokens=1000, at=AT)
    assert call.cost == Decimal("0.002")
    assert (
        llmledger.quote(
            "acme-gateway", "house-llama-70b", input_tokens=1, at=AT.replace(month=10)
        ).cost
        is None
    )


def test_provider_discount_applies_to_catalog_prices(overridden):
    # claude-3-5-haiku: $0.80 / $4, less 12.5%.
    q = llmledger.quote(
        "anthropic", "claude-3-5-haiku-latest", input_tokens=1000, output_tokens=1000, at=AT
    )
    assert q.cost == Decimal("0.0007") + Decimal("0.0035")
    assert q.price_rule.discount_percent == Decimal("12.5")


def test_snapshot_id_changes_with_overrides(overridden, tmp_path):
    with_overrides = llmledger.quote("openai", "gpt-4o", at=AT).price_rule.snapshot_id
    llmledger.configure(f"sqlite:///{tmp_path / 'other.db'}")
    assert llmledger.quote("openai", "gpt-4o", at=AT).price_rule.snapshot_id != with_overrides


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"models": [{"model": "x", "prices": {"input": "1"}}]}, "unknown price key 'input'"),
        ({"models": [{"model": "x", "prices": {"input_mtok": 0.3}}]}, "not floats"),
        ({"models": [{"model": "x", "prices": {"input_mtok": "-1"}}]}, "non-negative"),
        (
            {"models": [{"model": "x", "since": "yesterday", "prices": {"input_mtok": "1"}}]},
            "ISO date",
        ),
        ({"discounts": {"openai": "120"}}, "percentage"),
        ({"model": []}, "unknown section"),
        ({"models": 3}, r"^price_overrides.models: a list of entries, not 3$"),
        ({"discounts": 3}, r"^price_overrides.discounts: provider names to percentages, not 3$"),
        (["x"], r"^price overrides are a dict or the path of a JSON or TOML file, not list$"),
    ],
)
def test_bad_overrides_fail_where_configured(tmp_path, overrides, message):
    with pytest.raises(llmledger.OverridesError, match=message):
        llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", price_overrides=overrides)


def test_an_overrides_file_that_is_not_a_table_fails_where_configured(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text("[]")
    with pytest.raises(llmledger.OverridesError, match=r"holds a list, not a table$"):
        llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", price_overrides=path)


def test_overrides_from_a_toml_file(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text('[[models]]\nmodel = "my-model"\nprices = { input_mtok = "1.5" }\n')
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", price_overrides=path)
    try:
        assert llmledger.quote("openai", "my-model", input_tokens=2000).cost == Decimal("0.003")
    finally:
        llmledger.shutdown()


@pytest.fixture
def own_deployment(tmp_path):
    """A deployment the user prices on its own, named like a catalog provider: the catalog
    recognises any name containing "openai" as OpenAI."""
    llmledger.configure(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        spool_path=tmp_path / "spool.jsonl",
        price_overrides={
            "models": [
                {"provider": "openai-eu", "model": "gpt-4o", "prices": {"input_mtok": "10"}},
            ],
            "discounts": {"openai-eu": "10"},
        },
    )
    yield
    llmledger.shutdown()


def test_an_override_for_a_provider_of_its_own_applies_and_names_the_rows(own_deployment):
    call = llmledger.track("openai-eu", "gpt-4o", input_tokens=1_000_000, at=AT)
    assert (call.provider, call.cost, call.price_rule.source) == (
        "openai-eu",
        Decimal(10),
        "override",
    )
    # Its other models fall back to OpenAI's catalog prices, less its own 10% discount:
    # gpt-4o-mini input at 0.15 USD per million tokens.
    mini = llmledger.quote("openai-eu", "gpt-4o-mini", input_tokens=1_000_000, at=AT)
    assert (mini.provider, mini.cost) == ("openai-eu", Decimal("0.135"))
    # OpenAI itself keeps the catalog's price, undiscounted.
    assert llmledger.quote("openai", "gpt-4o", input_tokens=1_000_000, at=AT).cost == Decimal("2.5")
