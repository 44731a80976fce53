"""Fixtures: the fake provider on loopback, real SDK clients pointed at it, and the ledger."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

from fakeprovider import FakeProvider
from llmledger.capture import sink


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture
def ledger() -> Iterator[list[Any]]:
    """The calls capture recorded during the test, in order."""
    seen: list[Any] = []
    previous = sink.hook
    sink.hook = seen.append
    yield seen
    sink.hook = previous


def make_client(sdk: str, url: str, *, asynchronous: bool = False, **kw: Any) -> Any:
    """A real SDK client pointed at the fake provider (no retries unless asked)."""
    if sdk != "google":
        kw.setdefault("max_retries", 0)
    if sdk == "openai":
        import openai

        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(api_key="sk-test", base_url=url + "/v1", **kw)
    if sdk == "anthropic":
        import anthropic

        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(api_key="sk-ant-test", base_url=url, **kw)
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=url, **kw))
    return client.aio if asynchronous else client


async def aclose_client(client: Any) -> None:
    await client.aclose() if hasattr(client, "aclose") else await client.close()
