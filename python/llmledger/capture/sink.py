"""Where capture hands a finished call over, and how it reports its own troubles.

Capture never raises into the app: a problem is logged on the `llmledger` logger and
counted in `problems`, and the app's call goes on unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .observation import Observation

__all__ = ["deliver", "problems", "report_problem", "scope_tags"]

log = logging.getLogger("llmledger")

problems: Counter[str] = Counter()
"""Capture problems by kind ("parse", "decode", "record", ...), for `llmledger doctor`."""


def report_problem(kind: str, message: str, *args: object) -> None:
    """Count and log a capture problem; called from `except` blocks, so it logs the traceback."""
    problems[kind] += 1
    log.warning("llmledger capture: " + message, *args, exc_info=True)


_EMPTY: Mapping[str, str] = MappingProxyType({})


def scope_tags() -> Mapping[str, str]:
    """The tag scope when a request starts (a snapshot that never changes)."""
    return _EMPTY


# Until the recorder is wired in, observations go to this hook.
hook: Callable[[Observation], None] = lambda obs: None  # noqa: E731


def deliver(obs: Observation) -> None:
    """Hand one finished call to the recorder."""
    hook(obs)
