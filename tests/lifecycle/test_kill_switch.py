"""The kill switch: `configure(enabled=False)` or `LLMLEDGER_ENABLED=0` records nothing, opens
no database, and lets instrumented clients through untouched."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from fakeprovider import reply
from fakeprovider.clients import make_client

import llmledger
from llmledger.capture import instrument, tee
from llmledger.config import enabled

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def chat(client: Any, stream: bool = False) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream)


def test_track_prices_and_returns_the_call_and_no_file_appears(tmp_path: Path) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    with llmledger.tags(tenant="acme"):
        call = llmledger.track("openai", "gpt-4o-2024-08-06", input_tokens=86, output_tokens=10)
    # 86 * 2.50 + 10 * 10.00 USD per million tokens
    assert call.cost_pico == 86 * 2_500_000 + 10 * 10_000_000
    assert (call.usage_source, call.status, dict(call.tags)) == ("manual", "ok", {"tenant": "acme"})
    with pytest.raises(ValueError, match="input_tokens"):  # still checked where it is called
        llmledger.track("openai", "gpt-4o", input_tokens=-1)
    assert llmledger.flush() is True
    assert list(tmp_path.iterdir()) == []  # no database, no spool


def test_calls_is_an_empty_frame_with_the_ledger_columns(tmp_path: Path) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'on.db'}")
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    expected = llmledger.calls().clear()  # an enabled ledger's frame, without its row
    llmledger.configure(f"sqlite:///{tmp_path / 'off.db'}", enabled=False)
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    got = llmledger.calls()
    assert got.is_empty()
    assert got.schema == expected.schema
    with pytest.raises(ValueError):
        llmledger.calls(since="2026-02-01", until="2026-01-01")
    assert not (tmp_path / "off.db").exists()


@pytest.mark.parametrize("word", ["0", "false", "No", "OFF", " off "])
def test_the_environment_turns_it_off(word: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMLEDGER_ENABLED", word)
    assert enabled() is False
    llmledger.configure("sqlite:///never.db")
    assert enabled() is False
    assert llmledger.config.state().engine is None


@pytest.mark.parametrize("word", ["1", "true", "Yes", "ON", ""])
def test_the_environment_keeps_it_on(
    word: str, monkeypatch: pytest.MonkeyPatch, ledger_url: str
) -> None:
    monkeypatch.setenv("LLMLEDGER_ENABLED", word)
    assert enabled() is True
    llmledger.configure(ledger_url)
    llmledger.track("openai", "gpt-4o", input_tokens=3)
    assert llmledger.calls()["input_tokens"].to_list() == [3]


def test_an_unknown_word_is_an_error_at_configure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMLEDGER_ENABLED", "disabled")
    with caplog.at_level(logging.ERROR, "llmledger"):
        assert enabled() is False  # capture asks, and must not raise: off, said once
        assert enabled() is False
    assert [r.getMessage().count("LLMLEDGER_ENABLED='disabled'") for r in caplog.records] == [1]
    with pytest.raises(ValueError, match="LLMLEDGER_ENABLED='disabled' is not a switch"):
        llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(ValueError, match="LLMLEDGER_ENABLED"):  # the first use configures
        llmledger.track("openai", "gpt-4o", input_tokens=1)
    with pytest.raises(TypeError, match="enabled must be True, False or None"):
        llmledger.configure(enabled="no")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_the_argument_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, ledger_url: str
) -> None:
    monkeypatch.setenv("LLMLEDGER_ENABLED", "0")
    llmledger.configure(ledger_url, enabled=True)
    llmledger.track("openai", "gpt-4o", input_tokens=4)
    assert llmledger.calls()["input_tokens"].to_list() == [4]


def test_without_configure_the_environment_opens_no_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("LLMLEDGER_ENABLED", "off")
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        chat(client)
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    assert llmledger.flush() and llmledger.calls().is_empty()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_instrumented_calls_pass_straight_through(
    stream: bool, fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    exchanges: list[Any] = []
    monkeypatch.setattr(tee.Exchange, "__init__", lambda *a: exchanges.append(a))
    sent = fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json")).body
    with make_client("openai", fake.url) as plain:
        expected = chat(plain, stream)
        expected = [c.model_dump() for c in expected] if stream else expected.model_dump()
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        got = chat(client, stream)
        assert ([c.model_dump() for c in got] if stream else got.model_dump()) == expected
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=stream
        ) as raw:
            assert not isinstance(raw.http_response.stream, tee.TeeStream)
            assert b"".join(raw.iter_bytes()) == sent
    assert exchanges == []  # nothing was teed
    assert llmledger.calls().is_empty()
    assert list(tmp_path.iterdir()) == []


def test_async_instrumented_calls_pass_straight_through(fake: Any, tmp_path: Path) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    fake.serve(reply("openai_chat_stream.sse"))

    async def both() -> tuple[list[Any], list[Any]]:
        out = []
        for wired in (False, True):
            client = make_client("openai", fake.url, asynchronous=True)
            if wired:
                instrument(client, provider="openai")
            async with client:
                stream = await chat(client, stream=True)
                out.append([c.model_dump() async for c in stream])
        return out[0], out[1]

    plain, wired = asyncio.run(both())
    assert wired == plain
    assert llmledger.calls().is_empty()
    assert list(tmp_path.iterdir()) == []


def test_switching_on_again_records(fake: Any, ledger_url: str) -> None:
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        llmledger.configure(ledger_url, enabled=False)
        chat(client)
        llmledger.configure(ledger_url)
        chat(client)
    assert llmledger.calls()["input_tokens"].to_list() == [86]
