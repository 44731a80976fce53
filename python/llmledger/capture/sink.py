"""Where capture hands a finished call to the recorder, and how it reports its own troubles.

Capture never raises into the app: a problem is logged on the `llmledger` logger and
counted in `problems`, and the app's call goes on unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections import Counter

from .. import tagging
from ..record import recorder
from .observation import Observation

__all__ = ["deliver", "problems", "report_problem", "scope_tags"]

log = logging.getLogger("llmledger")

problems: Counter[str] = Counter()
"""Capture problems by kind ("capture", "decode", "parse", "record"), for `llmledger doctor`."""


def report_problem(kind: str, message: str, *args: object) -> None:
    """Count and log a capture problem, with the traceback when called while handling one."""
    problems[kind] += 1
    log.warning("llmledger capture: " + message, *args, exc_info=sys.exc_info()[0] is not None)


# The tag scope when a request starts: a dict that is never mutated, so keeping it is a snapshot.
scope_tags = tagging.snapshot

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def deliver(obs: Observation) -> None:
    """Hand one finished call to the recorder (which prices it and queues the row)."""
    recorder.record(
        obs.provider,
        obs.model,
        obs.tokens,
        at=_EPOCH + dt.timedelta(microseconds=obs.at_us),
        ts_us=obs.at_us,
        pricing_mode=obs.pricing_mode,
        usage_source=obs.usage_source,
        scoped_tags=obs.tags,
        latency_ms=obs.latency_ms,
        provider_response_id=obs.provider_response_id,
        http_status=obs.http_status,
        status=obs.status,
        # The provider's usage object, verbatim, so a normaliser fix can re-derive history.
        raw_usage=json.loads(obs.raw_usage) if obs.raw_usage else None,
    )
