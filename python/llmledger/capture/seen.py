"""One call, one row: how an integration's report of a call an instrumented client recorded
is recognised, and dropped.

An app can reach one call two ways: through an instrumented SDK client that LiteLLM,
LangChain or an OpenTelemetry instrumentation drives, and through that library's own report
(`llmledger.integrations`). The instrumented client's row stands: it saw the bytes. The
library's report is dropped when the client sent a request while the library's call was
open in the same context: from the library's "call started" (`begin`), reported in the
context that goes on to send the request (LiteLLM's pre-call hook, LangChain's
`on_chat_model_start`, a span's start), to its "call ended" (`end`), wherever that is
reported from. Capture's rows are never dropped.

Not by the provider's response id: LiteLLM makes up its own for some providers, LangChain
drops it from streams, and some OpenAI-compatible servers send the same id every time.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["MAX_NESTING", "Reporting", "begin", "end", "request_sent"]

MAX_NESTING = 4
"""How many open calls one call may be nested in (a span around a LangChain call around...).
A call the library never reports ended (a stream the app abandoned) stays open; past this
depth a new call does not nest in it, so such calls cannot pile up in a long-lived context."""


class Reporting:
    """One call a library is making, from its start to its report."""

    __slots__ = ("captured", "depth", "ended", "outer")

    def __init__(self, outer: Reporting | None) -> None:
        self.captured = False  # an instrumented client sent a request for it
        self.ended = False
        self.outer = outer  # the call open around it (a span around a LangChain call)
        self.depth: int = 0 if outer is None else outer.depth + 1


# The innermost open call of this context. Never reset: the library reports the call's end
# elsewhere (a thread, a task), so the last one stays, ended, until the next call replaces it.
_open: ContextVar[Reporting | None] = ContextVar("llmledger_reporting", default=None)


def begin() -> Reporting:
    """Open a call in this context, as the library reports its start."""
    outer = _open.get()
    if outer is not None and (outer.ended or outer.depth >= MAX_NESTING):
        outer = None
    call = Reporting(outer)
    _open.set(call)
    return call


def end(call: Reporting) -> bool:
    """Close a call as the library reports it; True if it is the library's to record (no
    instrumented client sent a request for it). Closing it again changes nothing."""
    call.ended = True
    return not call.captured


def request_sent() -> None:
    """An instrumented client is sending a request: the calls open in this context are its."""
    call = _open.get()
    while call is not None and not call.ended:
        call.captured = True
        call = call.outer
