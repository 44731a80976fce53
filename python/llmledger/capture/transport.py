"""The choke point: an httpx2 transport that wraps the client's own and tees LLM responses.

Requests that are not LLM calls (file uploads, model listings, other hosts), and every
request while recording is off (the kill switch, `config.enabled()`), go straight to the
wrapped transport. LLM calls get an `Exchange`, their budgets are checked (`budgets.preflight`:
`BudgetExceeded` is the one exception capture raises into the app, before the request leaves),
a `reserve` budget's reservation is made (released again if the request fails: otherwise the
writer releases it with the call's row), and their response body is wrapped so that the
SDK reads the very same bytes, chunk by chunk, as they arrive.

The SDKs of OpenAI, Anthropic and Google import `httpx2` (the maintained fork of httpx), so
this wraps httpx2's transports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import httpx2

from ..budgets import BudgetExceeded
from ..budgets.preflight import preflight, release, reserve
from ..config import configured, enabled
from ..record.recorder import new_event_id
from . import seen
from .hosts import Dialect, Route, dialect_of, guess_route, host_for, register_host, route
from .refusal import as_raised
from .sink import report_problem
from .tee import AsyncTeeStream, Exchange, TeeStream
from .worst_case import worst_case_cost

__all__ = [
    "AsyncTeeTransport",
    "TeeTransport",
    "async_httpx_client",
    "configure",
    "httpx_client",
    "is_wired",
    "unwire",
    "wire",
]


def configure(*, hosts: Mapping[str, str | tuple[str, Dialect]] | None = None) -> None:
    """Capture's part of `llmledger.configure`. `hosts` maps "host[:port]" (a leading dot for
    all subdomains) to a provider id, or to `(provider, dialect)` for a gateway that speaks
    Anthropic's or Google's format."""
    for host, target in (hosts or {}).items():
        provider, dialect = (target, None) if isinstance(target, str) else target
        register_host(host, provider, dialect)


class _Router:
    """Recognises LLM calls for one wrapped transport.

    `provider` pins every request to a provider (a proxy, a local server); otherwise the host
    registry decides, and `fallback` names the provider of the client's type for hosts the
    registry does not know. `dialect` is the wire format of the client's SDK, when known.
    """

    __slots__ = ("dialect", "fallback", "provider")

    def __init__(self, provider: str | None, dialect: Dialect | None, fallback: str | None):
        self.provider = provider
        self.dialect = dialect
        self.fallback = fallback

    def __call__(self, request: httpx2.Request) -> Route | None:
        url = request.url
        provider = self.provider
        dialect = self.dialect
        if provider is None:
            host = host_for(url.host, url.port)
            if host is not None:
                provider, dialect = host.provider, dialect or host.dialect
            elif self.fallback is None:
                # A client built on `httpx_client()` pointed at a proxy: record what its path
                # says it is rather than nothing, and say so once.
                found = guess_route(request.method, url.path)
                if found is not None:
                    _note_unregistered(url, found.provider)
                return found
            else:
                provider = self.fallback
                found = route(dialect or dialect_of(provider), provider, request.method, url.path)
                if found is not None:
                    _note_unregistered(url, provider)
                return found
        return route(dialect or dialect_of(provider), provider, request.method, url.path)


# Hosts already reported by `_note_unregistered`: once per host and process is enough.
_unregistered_seen: set[str] = set()


def _note_unregistered(url: httpx2.URL, provider: str) -> None:
    """Count and log, once per host, an LLM call to a host the registry does not know."""
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    if host in _unregistered_seen:
        return
    _unregistered_seen.add(host)
    report_problem("host", "%s is not in the host registry; its calls are recorded as %r; "
                   "register_host(%r, <provider>) to name it", host, provider, host)  # fmt: skip


def _start(router: _Router, request: httpx2.Request) -> Exchange | None:
    """Recognise the call and open its exchange; on any failure the request goes unrecorded."""
    try:
        found = router(request)
        if found is None:
            return None
        exchange = Exchange(found, request)
        seen.request_sent()  # a LangChain or LiteLLM call open here is this one's to record
        return exchange
    except Exception:  # capture must never break the call: log, count, pass it through
        report_problem("capture", "could not start capturing %s %s", request.method, request.url)
        return None


def _check_budgets(exchange: Exchange) -> bool:
    """Raise `BudgetExceeded` if the call would spend a budget already spent, before its
    request leaves; nothing to do (one attribute read) when no budget is checked before.
    True when a `reserve` budget is configured: `_reserve` is to be called next."""
    st = configured()
    guard = None if st is None else st.guard
    if guard is None or not guard.before:
        return False
    route = exchange.route
    try:
        preflight(exchange.tags, route.provider, _model(exchange, guard.needs_model))
    except BudgetExceeded as error:
        raise as_raised(error, route) from None
    return guard.reserver is not None


def _model(exchange: Exchange, needs_model: bool) -> str | None:
    model = exchange.route.url_model
    if model is None and needs_model:
        model = _body_model(exchange.body)
    return model


def _reserve(exchange: Exchange) -> None:
    """Reserve the call's worst case in its `reserve` budgets (a database round trip), or
    raise `BudgetExceeded`; sets `exchange.event_id` once reserved."""
    st = configured()
    if st is None or st.guard is None:  # configured off since `_check_budgets`
        return
    route, pricer = exchange.route, st.pricer
    event_id = new_event_id(exchange.at_us)

    def worst_case(default_cap: int | None) -> int | None:
        return worst_case_cost(pricer, route, exchange.body, exchange.at_us, default_cap)

    model = _model(exchange, st.guard.needs_model)
    try:
        if reserve(exchange.tags, route.provider, model, worst_case, event_id):
            exchange.event_id = event_id
    except BudgetExceeded as error:
        raise as_raised(error, route) from None


def _release_unrecorded(exchange: Exchange | None) -> None:
    """Release the reservation of a call that will not be recorded (its request failed)."""
    if exchange is not None and exchange.event_id is not None:
        release(exchange.event_id)
        exchange.event_id = None


def _body_model(body: bytes) -> str | None:
    """The model a JSON request body names (OpenAI's and Anthropic's APIs), else None."""
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError, RecursionError):  # not JSON (multipart), not an object
        return None
    return model if isinstance(model, str) else None


def _begin(exchange: Exchange, response: httpx2.Response) -> bool:
    """Read the response status; False if capture cannot follow this response."""
    try:
        exchange.begin(response)
        return True
    except Exception:  # capture must never break the call: log, count, pass it through
        report_problem("capture", "could not read a %s response", exchange.route.provider)
        return False


def _tee_read_body(exchange: Exchange, response: httpx2.Response) -> bool:
    """Tee a body that is already in memory, which the SDK will not read through the stream
    (a mock transport's `content=` or `json=`, a caching transport); False for a body still
    to be read, the usual case, which is teed as it streams."""
    try:
        content = response.content
    except httpx2.ResponseNotRead:  # a streaming body: tee it as the SDK reads it
        return False
    exchange.take_read_body(content)
    return True


class TeeTransport(httpx2.BaseTransport):
    """Wraps a sync transport; tees the response bodies of LLM calls into the parser."""

    def __init__(
        self,
        inner: httpx2.BaseTransport,
        *,
        provider: str | None = None,
        dialect: Dialect | None = None,
        fallback_provider: str | None = None,
    ) -> None:
        self.inner = inner
        self._router = _Router(provider, dialect, fallback_provider)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if not enabled():  # the kill switch: straight through, nothing teed
            return self.inner.handle_request(request)
        exchange = _start(self._router, request)
        # BudgetExceeded, the one error capture lets through
        if exchange is not None and _check_budgets(exchange):
            _reserve(exchange)
        try:
            response = self.inner.handle_request(request)
        except BaseException:
            _release_unrecorded(exchange)
            raise
        if exchange is not None and _begin(exchange, response):
            if 300 <= response.status_code < 400:  # recorded (and reserved) at the next hop
                _release_unrecorded(exchange)
            if _tee_read_body(exchange, response):
                return response
            response.stream = TeeStream(response.stream, exchange)  # type: ignore[arg-type]
        else:
            _release_unrecorded(exchange)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncTeeTransport(httpx2.AsyncBaseTransport):
    """Wraps an async transport; tees the response bodies of LLM calls into the parser."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        *,
        provider: str | None = None,
        dialect: Dialect | None = None,
        fallback_provider: str | None = None,
    ) -> None:
        self.inner = inner
        self._router = _Router(provider, dialect, fallback_provider)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not enabled():  # the kill switch: straight through, nothing teed
            return await self.inner.handle_async_request(request)
        exchange = _start(self._router, request)
        try:
            # BudgetExceeded, the one error capture lets through
            if exchange is not None and _check_budgets(exchange):
                # A database round trip, which may wait on a lock: off the event loop.
                await anyio.to_thread.run_sync(_reserve, exchange)
            response = await self.inner.handle_async_request(request)
        except BaseException:  # a cancellation too, even one that lands after reserving
            _release_unrecorded(exchange)
            raise
        if exchange is not None and _begin(exchange, response):
            if 300 <= response.status_code < 400:  # recorded (and reserved) at the next hop
                _release_unrecorded(exchange)
            if _tee_read_body(exchange, response):
                return response
            response.stream = AsyncTeeStream(response.stream, exchange)  # type: ignore[arg-type]
        else:
            _release_unrecorded(exchange)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def wire(
    client: httpx2.Client | httpx2.AsyncClient,
    *,
    provider: str | None = None,
    dialect: Dialect | None = None,
    fallback_provider: str | None = None,
) -> None:
    """Wrap the transports of an httpx2 client in place: its default one and those mounted
    for proxies. Already wrapped transports are left as they are (wiring is idempotent)."""
    wrapper: type[TeeTransport | AsyncTeeTransport] = (
        AsyncTeeTransport if isinstance(client, httpx2.AsyncClient) else TeeTransport
    )

    def wrap(transport: Any) -> Any:
        if transport is None or isinstance(transport, wrapper):
            return transport
        return wrapper(
            transport, provider=provider, dialect=dialect, fallback_provider=fallback_provider
        )

    # httpx2 keeps them in `_transport` and `_mounts` (as httpx always has); only the
    # transports are swapped, so the client's pools, limits and proxies stay its own.
    client._transport = wrap(client._transport)
    client._mounts = {pattern: wrap(t) for pattern, t in client._mounts.items()}


def unwire(client: httpx2.Client | httpx2.AsyncClient) -> None:
    """Put back the transports `wire` wrapped."""

    def unwrap(transport: Any) -> Any:
        return (
            transport.inner
            if isinstance(transport, TeeTransport | AsyncTeeTransport)
            else transport
        )

    client._transport = unwrap(client._transport)
    client._mounts = {pattern: unwrap(t) for pattern, t in client._mounts.items()}


def is_wired(client: httpx2.Client | httpx2.AsyncClient) -> bool:
    """Whether `wire` wrapped this client's transport."""
    return isinstance(client._transport, TeeTransport | AsyncTeeTransport)


def httpx_client(*, provider: str | None = None, **kwargs: Any) -> httpx2.Client:
    """An `httpx2.Client(**kwargs)` whose LLM calls are recorded, for explicit wiring:
    `OpenAI(http_client=llmledger.httpx_client())`. `provider` pins the provider when the host
    is a proxy or a local server that the host registry does not know."""
    client = httpx2.Client(**kwargs)
    wire(client, provider=provider)
    return client


def async_httpx_client(*, provider: str | None = None, **kwargs: Any) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient(**kwargs)` whose LLM calls are recorded (see `httpx_client`)."""
    client = httpx2.AsyncClient(**kwargs)
    wire(client, provider=provider)
    return client
