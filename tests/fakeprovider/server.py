"""A threaded HTTP/1.1 server on loopback that answers every request with one chosen reply.

The real SDK clients are pointed at it (base_url / http_options). Replies can also be chosen
by the end of the request's path (`serve_routes`: Bedrock's "/invoke" and
"/invoke-with-response-stream"). Streams are sent with chunked transfer encoding, one SSE
event (or AWS event-stream message) per chunk by default, or in fixed-size pieces to
split events (and UTF-8 sequences) across reads. A reply can also break its stream midway
by dropping the connection, as a failing network or provider would.
"""

from __future__ import annotations

import gzip
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli

from .eventstream import CONTENT_TYPE as EVENT_STREAM
from .eventstream import split_messages

__all__ = ["FakeProvider", "Received", "Reply", "reply"]

RESPONSES = Path(__file__).parent / "responses"


@dataclass(frozen=True)
class Reply:
    """What the server sends back: status, headers and body, and how the body is cut."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    chunk_size: int | None = None  # None: a stream goes out one SSE event per chunk
    break_after: int | None = None  # drop the connection after this many chunks
    encoding: str | None = None  # "gzip" or "br": the body is sent compressed so

    @property
    def streaming(self) -> bool:
        return self.content_type.startswith(("text/event-stream", EVENT_STREAM))

    def chunks(self) -> list[bytes]:
        body = self.body
        if self.encoding == "gzip":
            body = gzip.compress(body, mtime=0)
        elif self.encoding == "br":
            body = brotli.compress(body)
        if self.chunk_size is not None:
            return [body[i : i + self.chunk_size] for i in range(0, len(body), self.chunk_size)]
        if not self.streaming or self.encoding:
            return [body]
        if self.content_type.startswith(EVENT_STREAM):
            return split_messages(body)
        sep = b"\r\n\r\n" if b"\r\n\r\n" in body else b"\n\n"
        return [event + sep for event in body.split(sep) if event]


def reply(name: str, **kw: object) -> Reply:
    """A reply from a file in `responses/`; `.sse` files are served as event streams."""
    path = RESPONSES / name
    if path.suffix == ".sse":
        kw.setdefault("content_type", "text/event-stream; charset=utf-8")
    return Reply(path.read_bytes(), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Received:
    """A request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _State:
    reply: Reply = field(default_factory=lambda: Reply(b"{}"))
    routes: dict[str, Reply] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the providers' servers
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once, as from a real provider, not wait for an ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest shows failures, not every request

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        state = self.server.state
        state.received.append(Received(self.command, self.path, dict(self.headers), body))
        path = self.path.partition("?")[0]
        r = next((r for end, r in state.routes.items() if path.endswith(end)), state.reply)
        # No Date or Server header: replies are byte-for-byte the same on every run.
        self.send_response_only(r.status)
        self.send_header("content-type", r.content_type)
        for k, v in r.headers:
            self.send_header(k, v)
        if r.encoding:
            self.send_header("content-encoding", r.encoding)
        chunks = r.chunks()
        if not r.streaming and r.break_after is None:
            payload = b"".join(chunks)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if r.break_after is not None and i == r.break_after:
                self.wfile.flush()
                self.close_connection = True
                return  # no terminating chunk: the client sees the body end midway
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Clients of several processes connect at once: socketserver's backlog of 5 would turn
    # some of their connections away before a thread accepts them.
    request_queue_size = 128
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply (a test that stops reading a stream) is routine for
        # a server; socketserver would print its traceback into the test run's output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeProvider:
    """The fake provider. `serve(reply)` sets the reply for every following request."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def received(self) -> list[Received]:
        return self._server.state.received

    def serve(self, r: Reply) -> Reply:
        self._server.state.reply = r
        self._server.state.routes = {}
        return r

    def serve_routes(self, routes: dict[str, Reply]) -> None:
        """Answer a request whose path ends with a key of `routes` with its reply (the first
        such key, in order), and any other with a 404."""
        state = self._server.state
        state.reply = Reply(b'{"message":"no such route"}', status=404)
        state.routes = dict(routes)

    def start(self) -> FakeProvider:
        """Serve from a daemon thread of this process."""
        self._thread.start()
        return self

    def run(self) -> None:
        """Serve from the calling thread, until the process is stopped."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
