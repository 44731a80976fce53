"""The provider's usage object reaches the database as the JSON text it arrived in, on every
backend, as a JSON object (not a JSON string holding it); spooled rows from before, which
hold it as an object, still replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from capture_cases import chat
from fakeprovider import reply
from fakeprovider.clients import make_client
from fakeprovider.server import RESPONSES

import llmledger
from llmledger.capture import instrument
from llmledger.config import state
from llmledger.record.recorder import ledger_row
from llmledger.store import make_engine, upgrade
from llmledger.store.spool import encode_rows

USAGE = json.loads((RESPONSES / "openai_chat.json").read_text())["usage"]


def spooled_row(raw_usage: Any, response_id: str) -> dict[str, Any]:
    row, _ = ledger_row(
        state(), "openai", "gpt-4o-mini", (5, 0, 0, 0, 7, 0, 0, 0), ts_us=1_795_780_800_000_000,
        pricing_mode="standard", usage_source="response", scoped_tags={},
        provider_response_id=response_id, raw_usage=raw_usage,
    )  # fmt: skip
    return row


def test_raw_usage_is_stored_as_the_providers_object(
    database_url: str, tmp_path: Path, fake: Any
) -> None:
    spool = tmp_path / "spool.jsonl"
    engine = make_engine(database_url)
    upgrade(engine)  # the server databases start empty
    llmledger.configure(engine, spool_path=spool)
    try:
        # What an earlier version left in the spool (the object), and this one (the text).
        rows = [
            spooled_row({"prompt_tokens": 5, "completion_tokens": 7}, "old"),
            spooled_row('{"prompt_tokens":5,"completion_tokens":7}', "new"),
            spooled_row(None, "none"),
        ]
        spool.write_bytes(encode_rows(rows))
        fake.serve(reply("openai_chat.json"))
        with instrument(make_client("openai", fake.url), provider="openai") as client:
            chat(client, False)
        assert llmledger.flush(timeout=30)
        stored = {
            row["provider_response_id"]: row["raw_usage"] for row in llmledger.calls().to_dicts()
        }
    finally:
        llmledger.shutdown()
        engine.dispose()  # before the database is dropped
    assert not spool.exists()
    decoded = {key: None if text is None else json.loads(text) for key, text in stored.items()}
    assert decoded == {
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG": USAGE,
        "old": {"prompt_tokens": 5, "completion_tokens": 7},
        "new": {"prompt_tokens": 5, "completion_tokens": 7},
        "none": None,
    }
