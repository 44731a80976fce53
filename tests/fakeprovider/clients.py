"""Real SDK clients pointed at the fake provider."""

from __future__ import annotations

from typing import Any

__all__ = ["aclose_client", "make_client"]


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
