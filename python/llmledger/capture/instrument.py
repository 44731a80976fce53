"""Wire one SDK client instance: swap the transport under its httpx2 client, reversibly.

Only that instance is affected (no class-wide patching). OpenAI's and Anthropic's clients
keep their httpx2 client in `_client`; Google's keeps a sync and an async one on its
`_api_client`, shared by `client` and `client.aio`.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, TypeVar

import httpx2

from .hosts import Dialect
from .transport import is_wired, unwire, wire

__all__ = ["instrument", "uninstrument"]

log = logging.getLogger("llmledger")

C = TypeVar("C")


def instrument(client: C, provider: str | None = None) -> C:
    """Record every LLM call `client` makes; returns the same client.

    Works on `openai.OpenAI` / `AsyncOpenAI` (and Azure's), `anthropic.Anthropic` /
    `AsyncAnthropic` (and `AnthropicBedrock` / `AnthropicVertex`) and `google.genai.Client`
    (sync and `.aio`). The provider comes from the host of each request (see
    `register_host`), else from the client's type ("aws" for Bedrock's); pass `provider`
    when the client talks to a proxy or a local server. Instrumenting twice is a no-op;
    `uninstrument` undoes it.
    """
    sdk = _sdk_of(client)
    fallback = _billed_by(client, sdk)
    for http_client in _http_clients(client, sdk):
        wire(http_client, provider=provider, dialect=sdk, fallback_provider=fallback)
    if sdk == "google":
        api = client._api_client  # type: ignore[attr-defined]
        _wire_per_loop(api._async_httpx_client, provider)
        _send_async_through_httpx(api)
    return client


def uninstrument(client: C) -> C:
    """Stop recording `client`'s calls: its transports are put back as they were."""
    sdk = _sdk_of(client)
    for http_client in _http_clients(client, sdk):
        unwire(http_client)
    if sdk == "google":
        api = client._api_client  # type: ignore[attr-defined]
        async_client = api._async_httpx_client
        if async_client is not None and "_inner_client_cls" in vars(async_client):
            del async_client._inner_client_cls
        if api in _switched_to_httpx:
            api._http_options.httpx_async_client = None
            _switched_to_httpx.discard(api)
    return client


def is_instrumented(client: Any) -> bool:
    """Whether `instrument` wired this client."""
    return any(is_wired(c) for c in _http_clients(client, _sdk_of(client)))


def _sdk_of(client: Any) -> Dialect:
    """Which SDK built this client, from its class's module (the SDKs are optional imports)."""
    for cls in type(client).__mro__:
        module = cls.__module__
        if module == "openai" or module.startswith("openai."):
            return "openai"
        if module == "anthropic" or module.startswith("anthropic."):
            return "anthropic"
        if module.startswith("google.genai"):
            return "google"
    raise TypeError(
        f"llmledger.instrument: unsupported client {type(client).__name__}; for any other "
        "httpx2-based client pass http_client=llmledger.httpx_client()"
    )


def _billed_by(client: Any, sdk: Dialect) -> str:
    """The provider that bills a client's calls to a host the registry does not know (a
    proxy, a VPC endpoint): the SDK's own, but AWS for the Anthropic SDK's Bedrock clients."""
    modules = (cls.__module__ for cls in type(client).__mro__)
    return "aws" if any(m.startswith("anthropic.lib.bedrock.") for m in modules) else sdk


def _http_clients(client: Any, sdk: Dialect) -> list[httpx2.Client | httpx2.AsyncClient]:
    """The httpx2 clients under an SDK client, plus, for Google's per-event-loop async
    client, the inner clients it has already made."""
    if sdk == "google":
        api = client._api_client
        found = [c for c in (api._httpx_client, api._async_httpx_client) if c is not None]
        for outer in list(found):
            found.extend(getattr(outer, "_loop_clients", {}).values())
    else:
        found = [client._client]
    for c in found:
        if not isinstance(c, httpx2.Client | httpx2.AsyncClient):
            raise TypeError(
                f"llmledger.instrument: {type(client).__name__} uses {type(c).__module__}."
                f"{type(c).__name__}, not an httpx2 client; pass an "
                "llmledger.httpx_client() / async_httpx_client() to the SDK instead"
            )
    return found


# google-genai API clients whose async requests `instrument` moved from aiohttp to httpx2.
_switched_to_httpx: weakref.WeakSet[Any] = weakref.WeakSet()


def _send_async_through_httpx(api: Any) -> None:
    """With aiohttp installed, google-genai sends async requests through aiohttp, which capture
    cannot see, unless the client was given an httpx client. Give it its own httpx2 client
    (wired above): both are transports the SDK supports, the requests are the same, and
    every async call is recorded. `uninstrument` puts aiohttp back."""
    if not api._use_aiohttp():
        return
    if api._async_httpx_client is None:  # Vertex AI's google-auth async session
        log.warning(
            "llmledger.instrument: this google-genai client sends async requests through "
            "aiohttp, which capture does not see; create it with http_options="
            "HttpOptions(httpx_async_client=llmledger.async_httpx_client()) to record them"
        )
        return
    api._http_options.httpx_async_client = api._async_httpx_client
    _switched_to_httpx.add(api)


def _wire_per_loop(async_client: Any, provider: str | None) -> None:
    """google-genai's async client sends through one inner httpx2 client per event loop,
    made on first use from `_inner_client_cls`. Shadow that on this instance only, so
    inner clients made later are wired too."""
    if async_client is None or "_inner_client_cls" in vars(async_client):
        return
    make = type(async_client)._inner_client_cls

    def make_wired(**kwargs: Any) -> httpx2.AsyncClient:
        inner = make(**kwargs)
        wire(inner, provider=provider, dialect="google", fallback_provider="google")
        return inner

    async_client._inner_client_cls = make_wired
