"""`track_stream`: record a streamed call made without an SDK, from the events the app reads.

For code that talks to a provider with its own HTTP client (`requests`, `aiohttp`, a
websocket bridge): the app feeds the stream to a collector as it reads it, and the collector
records the call once, when its `with` block ends. The events go through the same Rust
`UsageParser` and the same rules as capture (`observation.observe`): usage from the stream's
final event, else tokens estimated from the streamed text and the request ("estimated"),
"unknown" for usage that cannot be used. Parsing is finished, and the call priced, on the
writer thread, as capture's are; the `on_call` hook sees it there.

The collector never raises for the stream's content (a parser failure is counted in
`capture.problems`); it raises only where the app misuses it, at that call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from .. import tagging
from .._core import UsageParser
from ..config import enabled
from ..record.limits import MODEL_LENGTH, PROVIDER_LENGTH, checked_text
from .hosts import Api, Dialect, Route
from .observation import Observation, observe
from .sink import deliver, report_problem

__all__ = ["StreamCollector", "track_stream"]

# The API a provider's stream is read as when none is named: its native one.
_NATIVE_API: dict[str, Api] = {
    "anthropic": "messages",
    "google": "generate_content",
    "gemini": "generate_content",  # the catalog's other name for google
}
_API_DIALECT: dict[str, Dialect] = {"messages": "anthropic", "generate_content": "google"}
_STREAMED_APIS = ("chat", "responses", "completions", "messages", "generate_content")


def track_stream(
    provider: str,
    model: str,
    *,
    api: Api | None = None,
    request: bytes | Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> StreamCollector:
    """A collector for one streamed call the app makes itself; use it as a context manager.

        with llmledger.track_stream("openai", "gpt-4o-mini", request=body) as s:
            for chunk in response.iter_content(chunk_size=None):
                s.event(chunk)          # raw bytes of the SSE body, in any split
                ...                     # or s.event(json.loads(line[6:])), a parsed event

    `provider` is who bills the call (the catalog's id: "openai", "anthropic", "openrouter"),
    `model` the model asked for: recorded unless the stream names one (a dated version) or,
    failing that, the request body does, as capture does. The pricing mode is the service
    tier the stream reports ("flex", "priority"), else standard. `api` says how to read the
    events: "chat", "responses" or "completions" (OpenAI's format), "messages"
    (Anthropic's), "generate_content" (Gemini's `alt=sse`); by default "messages" for
    anthropic, "generate_content" for google, else "chat". `request` is the request's JSON
    body (bytes or a dict): the input tokens are estimated from it when the stream carries
    no usage. `tags` are explicit tags, over the scope's as `track()`'s; the scope is read
    now.

    The call is recorded once, when the block ends: "ok", or "interrupted" when the block
    raises (the exception goes on unchanged), with the usage the stream reported, else an
    estimate (`usage_source` "estimated"). Bad arguments raise here (TypeError or ValueError
    naming the field). A stream begun while recording is off (`configure(enabled=False)`)
    has its events checked, not parsed, and is not recorded.
    """
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a string, got {type(provider).__name__}")
    checked_text("provider", provider, PROVIDER_LENGTH)
    checked_text("model", model, MODEL_LENGTH)
    if api is None:
        api = _NATIVE_API.get(provider.lower(), "chat")
    elif api not in _STREAMED_APIS:
        raise ValueError(f"api must be one of {', '.join(_STREAMED_APIS)}, got {api!r}")
    if isinstance(request, Mapping):
        body = json.dumps(request).encode()
    elif isinstance(request, bytes | bytearray | memoryview):
        body = bytes(request)
    elif request is None:
        body = b""
    else:
        raise TypeError(f"request must be bytes, a dict or None, got {type(request).__name__}")
    explicit = tagging.clean_explicit(tags)
    # The model asked for rides as the route's URL model: `observe` falls back to it when
    # neither the stream nor the request body names one.
    route = Route(provider, _API_DIALECT.get(api, "openai"), api, model)
    return StreamCollector(route, body, explicit)


class StreamCollector:
    """One streamed call in flight, fed by the app (`track_stream`)."""

    __slots__ = ("_framing", "_parser", "_recorded", "_recording", "at_us", "body",
                 "latency_ms", "route", "start", "status", "tags")  # fmt: skip

    def __init__(self, route: Route, body: bytes, explicit: Mapping[str, str] | None) -> None:
        self.route = route
        self.body = body
        scoped = tagging.snapshot()
        self.tags = tagging.merge({}, scoped, explicit) if explicit else scoped
        # Decided once, when the call starts, as capture decides per request: a stream begun
        # while recording is off is only checked, never parsed, and never recorded.
        self._recording = enabled()
        self._parser: UsageParser | None = UsageParser(route.api, True) if self._recording else None
        self._framing: str | None = None  # "bytes" or "events", from the first event fed
        self._recorded = False
        self.status = "ok"
        self.at_us = self.start = self.latency_ms = 0

    def __enter__(self) -> StreamCollector:
        if self._recorded:  # a second `with` would record the call twice
            raise RuntimeError("track_stream: this stream was recorded when its block ended")
        self.at_us = time.time_ns() // 1000
        self.start = time.perf_counter_ns()
        return self

    def event(self, data: bytes | bytearray | memoryview | Mapping[str, Any]) -> None:
        """Feed the stream: raw bytes of the SSE body as they arrive (any split, lines with
        their newlines), or one parsed event's JSON object (the `data:` payload as a dict).
        One stream takes one kind: a TypeError for anything else, a RuntimeError after the
        block."""
        if self._recorded:
            raise RuntimeError("track_stream: this stream was recorded when its block ended")
        if isinstance(data, Mapping):
            framing = "events"
        elif isinstance(data, bytes | bytearray | memoryview):
            framing = "bytes"
        else:
            raise TypeError(
                "track_stream: event() takes the raw SSE bytes or a parsed event dict, got "
                f"{type(data).__name__}"
            )
        if self._framing != framing:
            if self._framing is not None:
                raise TypeError(
                    f"track_stream: this stream was fed {self._framing}; do not mix raw bytes "
                    "and parsed events in one stream"
                )
            self._framing = framing
        parser = self._parser
        if parser is None:
            return
        if framing == "events":  # the SSE event it came in, as the parser reads the wire
            chunk = b"data: " + json.dumps(data).encode() + b"\n\n"
        else:
            chunk = bytes(data)  # type: ignore[arg-type]  # no copy for bytes
        try:
            parser.feed(chunk)
        except Exception:  # a parser bug must not break the app's stream: stop parsing it
            report_problem("parse", "the usage parser failed on a %s stream", self.route.provider)
            self._parser = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._recorded = True
        self.latency_ms = (time.perf_counter_ns() - self.start) / 1e6
        self.status = "ok" if kind is None else "interrupted"
        if not self._recording:
            return
        try:
            deliver(self)
        except Exception:  # recording must never raise into the app; a bug here is counted
            report_problem("record", "could not record a %s stream", self.route.provider)

    def observation(self) -> Observation:
        """The finished call, from what the parser saw (on the writer thread)."""
        result = self._parser.finish() if self._parser is not None else None
        route = self.route
        if result is not None and result.error:
            report_problem("parse", "%s %s stream: %s", route.provider, route.api, result.error)
        if result is not None and result.usage_problem:
            report_problem("usage", "%s %s usage: %s (the raw usage is kept on the row)",
                           route.provider, route.api, result.usage_problem)  # fmt: skip
        return observe(
            route,
            self.body,
            result,
            status=self.status,
            http_status=None,
            at_us=self.at_us,
            latency_ms=self.latency_ms,
            tags=self.tags,
        )
