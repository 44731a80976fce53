"""Where capture hands a finished call to the writer thread, and how it reports its own troubles.

Capture never raises into the app: a problem is logged on the `llmledger` logger and
counted in `problems`, and the app's call goes on unchanged.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from .. import tagging
from ..config import State, state
from ..record import hooks, recorder

if TYPE_CHECKING:
    from ..pricing import Priced
    from ..store.writer import Writer
    from .hosts import Route
    from .observation import Observation


__all__ = ["deliver", "deliver_reported", "duplicates", "problems", "report_problem", "scope_tags"]

log = logging.getLogger("llmledger")


class Finished(Protocol):
    """A call whose response is over: a tee's `Exchange` or a `track_stream` collector."""

    route: Route

    def observation(self) -> Observation:
        """The call as capture saw it, built on the writer thread."""
        ...


problems: Counter[str] = Counter()
"""Capture problems by kind, for `llmledger.health()`: "capture", "decode", "parse", "record",
"usage" (a provider's usage unusable or clamped), "host" (calls to a host the registry
does not know, once per host) and "tags" (an integration's tags for a request or task that
could not be had: `llmledger.integrations`)."""

duplicates: Counter[str] = Counter()
"""Calls an integration reported that an instrumented client recorded already (see `seen`),
and so were not recorded again, by the provider the integration named."""


def report_problem(kind: str, message: str, *args: object) -> None:
    """Count and log a capture problem, with the traceback when called while handling one."""
    problems[kind] += 1
    log.warning("llmledger capture: " + message, *args, exc_info=sys.exc_info()[0] is not None)


# The tag scope when a request starts: a dict that is never mutated, so keeping it is a snapshot.
scope_tags = tagging.snapshot


# Past this many queued items the writer is behind (a slow or locked database): a queued call
# holds its response body (up to `tee.HOLD_BYTES`), a row only a few hundred bytes, so calls
# are then turned into rows here, on the app's thread, and memory stays bounded.
EAGER_AFTER = 1000


def deliver(exchange: Finished) -> None:
    """Queue a finished call for the writer thread, which builds and prices its row there
    and hands its `Call` to the `on_call` hook; past `EAGER_AFTER` queued items, build the row
    here and queue that (the hook still runs on the writer thread). A call that ends after
    recording was switched off is dropped: nothing is recorded while it is off."""
    st = state()
    writer = st.writer
    if writer is None:
        return
    if writer.queued() < EAGER_AFTER:
        writer.submit_later(partial(_announced_row, st, writer, exchange))
        return
    built = _built(st, exchange)
    if built is None:
        return
    row, priced = built
    if st.on_call is None:
        writer.submit(row)
    else:
        writer.submit_later(hooks.Announce(st.on_call, writer, row, hooks.call_of(row, priced)))


def _announced_row(st: State, writer: Writer, exchange: Finished) -> dict[str, Any] | None:
    """The row of a finished call, built on the writer thread; its `Call` goes to the hook."""
    return _announced(st, writer, _built(st, exchange))


def deliver_reported(obs: Observation) -> None:
    """Queue a call an integration reported (LiteLLM, LangChain, an OpenTelemetry span) for
    the writer thread, where it is built, priced and handed to the `on_call` hook as
    capture's calls are. Such an item holds no response body, so it is always queued."""
    st = state()
    writer = st.writer
    if writer is not None:
        writer.submit_later(partial(_reported_row, st, writer, obs))


def _reported_row(st: State, writer: Writer, obs: Observation) -> dict[str, Any] | None:
    """The row of a reported call, built on the writer thread; its `Call` goes to the hook."""
    return _announced(st, writer, _row_of(st, obs))


def _announced(
    st: State, writer: Writer, built: tuple[dict[str, Any], Priced | None] | None
) -> dict[str, Any] | None:
    """The row built, once its `Call` is handed to the hook."""
    if built is None:
        return None
    row, priced = built
    if st.on_call is not None:
        hooks.announce(st.on_call, writer, hooks.call_of(row, priced))
    return row


def _built(st: State, exchange: Finished) -> tuple[dict[str, Any], Priced | None] | None:
    """The ledger row of a finished call and the price it got; None if it cannot be built."""
    try:
        obs = exchange.observation()
    except Exception:  # a bug here must not stop the writer; it is counted and logged
        report_problem("record", "could not record a %s call", exchange.route.provider)
        return None
    return _row_of(st, obs)


def _row_of(st: State, obs: Observation) -> tuple[dict[str, Any], Priced | None] | None:
    """The ledger row of an observed call and the price it got; None if it cannot be built."""
    try:
        return recorder.ledger_row(
            st,
            obs.provider,
            obs.model,
            obs.tokens,
            ts_us=obs.at_us,
            pricing_mode=obs.pricing_mode,
            usage_source=obs.usage_source,
            scoped_tags=obs.tags,
            latency_ms=obs.latency_ms,
            provider_response_id=obs.provider_response_id,
            http_status=obs.http_status,
            status=obs.status,
            # The provider's usage object, as the JSON text it arrived in (stored as is), so
            # a normaliser fix can re-derive history.
            raw_usage=obs.raw_usage,
            event_id=obs.event_id,
        )
    except Exception:  # a bug here must not stop the writer; it is counted and logged
        report_problem("record", "could not record a %s call", obs.provider)
        return None
