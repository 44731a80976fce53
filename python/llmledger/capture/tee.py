"""The response tee: body chunks go to the SDK unchanged and, on the way, into the parser.

An `Exchange` is one LLM call in flight. It is created when the request starts (wall time,
monotonic start, tag snapshot), told the response status, fed every body chunk as the SDK
reads it, and finished exactly once: when the body is exhausted, when the consumer closes it
early, or when reading it fails (then what was seen is recorded, and the error reaches the
app unchanged). Finishing only queues the exchange: the parser's result, the usage, the
price and the row are worked out on the ledger's writer thread, off the app's path.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator

import httpx2
from httpx2._decoders import SUPPORTED_DECODERS

from .._core import UsageParser
from .hosts import Route
from .observation import Observation, observe
from .sink import deliver, report_problem, scope_tags

__all__ = ["AsyncTeeStream", "Exchange", "TeeStream"]


# A body's chunks are held, not parsed, up to this many bytes: the writer thread parses them
# after the call, off the app's path. Past it (a long stream) they are parsed as they come, so
# what a call in flight holds stays bounded; a few microseconds per event is then nothing next
# to the stream's own duration.
HOLD_BYTES = 256 * 1024

# The content type of AWS's binary event-stream framing, in which Bedrock streams.
EVENT_STREAM = "application/vnd.amazon.eventstream"


class Exchange:
    """One LLM call in flight, from the request's start to the end of its response body."""

    __slots__ = ("_once", "at_us", "body", "decoded", "decoder", "event_id", "headers", "held",
                 "held_bytes", "http_status", "latency_ms", "parser", "route", "start",
                 "status", "tags")  # fmt: skip

    def __init__(self, route: Route, request: httpx2.Request) -> None:
        self.route = route
        self.tags = scope_tags()
        self.at_us = time.time_ns() // 1000
        self.start = time.perf_counter_ns()
        self.body = request.content
        # Set when a budget reservation was made for the call: its row is written under it.
        self.event_id: str | None = None
        self.http_status = 0
        # The body's chunks, while they are held for the writer thread; None once they are
        # parsed as they come, and for a body that is not read (an error response).
        self.held: list[bytes] | None = None
        self.held_bytes = 0
        self.parser: UsageParser | None = None
        self.decoder: Callable[[bytes], bytes] | None = None
        # True when the body came already read, so already decoded (`take_read_body`).
        self.decoded = False
        # list.pop() is atomic, so "finish once" holds even when a stream is read in one
        # thread and closed from another.
        self._once = [True]

    def begin(self, response: httpx2.Response) -> None:
        """The response headers arrived: hold its body for the parser, unless it failed."""
        status = self.http_status = response.status_code
        if 300 <= status < 400:  # a redirect: the call is recorded at the hop that answers it
            self._once.clear()
            return
        if status < 400:  # a failed call is recorded with its status; its body is not read
            self.headers = response.headers
            self.held = []

    def feed(self, chunk: bytes) -> None:
        """Tee one chunk of the raw body: hold it, or parse it once too much is held."""
        held = self.held
        if held is not None:
            held.append(chunk)
            self.held_bytes += len(chunk)
            if self.held_bytes > HOLD_BYTES:
                self.held = None
                self._parse_held(held)
        elif self.parser is not None:
            self._parse(chunk)

    def take_read_body(self, content: bytes) -> None:
        """The response came with its body already in memory (`httpx2.MockTransport` with
        `content=` or `json=`, a transport that buffers or caches): the SDK will not read it
        through the stream, so tee it now, as httpx2 decoded it, and end the call."""
        self.decoded = True
        self.feed(content)
        self.finish("ok")

    def _parse_held(self, held: list[bytes]) -> None:
        self._open_parser()
        for chunk in held:
            self._parse(chunk)

    def _open_parser(self) -> None:
        headers = self.headers
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding and encoding != "identity" and not self.decoded:
            self.decoder = _decoder(encoding)
            if self.decoder is None:
                report_problem("decode", "unsupported content-encoding %r", encoding)
                return
        content_type = headers.get("content-type", "")
        if content_type.startswith(EVENT_STREAM):  # Bedrock's binary framing
            self.parser = UsageParser.event_stream(self.route.api)
        else:
            streaming = content_type.startswith("text/event-stream")
            self.parser = UsageParser(self.route.api, streaming)

    def _parse(self, chunk: bytes) -> None:
        parser = self.parser
        if parser is None:
            return
        if self.decoder is not None:
            try:
                chunk = self.decoder(chunk)
            except (zlib.error, httpx2.DecodingError):  # corrupt: the SDK raises its own error
                report_problem("decode", "could not decompress the response body")
                self.decoder = None
                self.parser = None
                return
        try:
            parser.feed(chunk)
        except Exception:  # a parser bug must not break the app's stream: stop parsing it
            report_problem("parse", "the usage parser failed on a %s body", self.route.provider)
            self.parser = None

    def finish(self, status: str) -> None:
        """End the call, once: "ok", or "interrupted" if the body failed midway. Only the
        latency is taken here; the writer thread reads the usage and records the call."""
        try:
            self._once.pop()
        except IndexError:  # already finished (exhausted, then closed by the SDK)
            return
        self.latency_ms = (time.perf_counter_ns() - self.start) / 1e6
        self.status = status
        try:
            deliver(self)
        except Exception:  # recording must never raise into the app; a bug here is counted
            report_problem("record", "could not record a %s call", self.route.provider)

    def observation(self) -> Observation:
        """The finished call, from what the parser saw (on the writer thread, unless the
        writer is behind: `sink.deliver`)."""
        held = self.held
        if held is not None:
            self.held = None
            self._parse_held(held)
        result = self.parser.finish() if self.parser is not None else None
        route = self.route
        if result is not None:
            if result.error:
                report_problem("parse", "%s %s: %s", route.provider, route.api, result.error)
            if result.usage_problem:
                verdict = "clamped" if result.tokens else "unusable, recorded as 'unknown'"
                report_problem(
                    "usage", "%s %s usage %s: %s (the raw usage is kept on the row)",
                    route.provider, route.api, verdict, result.usage_problem,
                )  # fmt: skip
        return observe(
            route,
            self.body,
            result,
            status=self.status,
            http_status=self.http_status,
            at_us=self.at_us,
            latency_ms=self.latency_ms,
            tags=self.tags,
            event_id=self.event_id,
        )


def _decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """A decompressor of chunks for a (lower-case) content-encoding; None if unsupported."""
    if encoding == "gzip":
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if encoding == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped; some servers send raw deflate. Auto-detect
        # zlib or gzip headers; raw deflate is rare enough to go unparsed.
        return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress
    # httpx2 asks for "br" and "zstd" only when the brotli or zstandard package is installed,
    # and reads them with its own decoders: the same decoders here read what the SDK reads.
    decoder_class = SUPPORTED_DECODERS.get(encoding)
    if decoder_class is None:
        return None
    decoder = decoder_class()
    return lambda chunk: b"".join(decoder.decode(chunk))


class TeeStream(httpx2.SyncByteStream):
    """A sync response body that feeds an `Exchange` as the SDK reads it."""

    __slots__ = ("_exchange", "_inner")

    def __init__(self, inner: httpx2.SyncByteStream, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        try:
            for chunk in self._inner:
                exchange.feed(chunk)
                yield chunk
        except GeneratorExit:  # the consumer stopped reading early: record what was seen
            exchange.finish("ok")
            raise
        except BaseException:  # a transport error or a cancellation midway: record, re-raise
            exchange.finish("interrupted")
            raise
        exchange.finish("ok")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._exchange.finish("ok")


class AsyncTeeStream(httpx2.AsyncByteStream):
    """An async response body that feeds an `Exchange` as the SDK reads it."""

    __slots__ = ("_exchange", "_inner")

    def __init__(self, inner: httpx2.AsyncByteStream, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        try:
            async for chunk in self._inner:
                exchange.feed(chunk)
                yield chunk
        except GeneratorExit:  # the consumer stopped reading early: record what was seen
            exchange.finish("ok")
            raise
        except BaseException:  # a transport error or a cancellation midway: record, re-raise
            exchange.finish("interrupted")
            raise
        exchange.finish("ok")

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._exchange.finish("ok")
