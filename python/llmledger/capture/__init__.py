"""Capture: record every LLM call an SDK client makes, from the bytes on the wire.

Wire one client instance with `instrument(OpenAI())`, or build the SDK client on an
instrumented httpx2 client: `OpenAI(http_client=httpx_client())`. A stream read without an
SDK is fed to `track_stream()` by the app itself.
"""

from .hosts import register_host, unregister_host
from .instrument import instrument, is_instrumented, uninstrument
from .manual import track_stream
from .sink import problems
from .transport import (
    AsyncTeeTransport,
    TeeTransport,
    async_httpx_client,
    configure,
    httpx_client,
)

__all__ = [
    "AsyncTeeTransport",
    "TeeTransport",
    "async_httpx_client",
    "configure",
    "httpx_client",
    "instrument",
    "is_instrumented",
    "problems",
    "register_host",
    "track_stream",
    "uninstrument",
    "unregister_host",
]
