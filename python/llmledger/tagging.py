"""Tags: who spent it. A `contextvars` scope, so threads and asyncio tasks stay isolated.

    with llmledger.tags(feature="chat", tenant="acme"):
        ...                      # every call recorded here carries both tags

    @llmledger.tags(job="nightly-summary")
    def run(): ...

Nested scopes merge (inner wins). A call's tags are, lowest precedence first: the configured
`default_tags` (a dict, or a callable evaluated per call), the scope when the call started,
then the tags passed explicitly. Keys are non-empty strings of at most 64 characters without
NUL or lone surrogates, else a TypeError or ValueError where they are given. Values are stored
as `str(value)` (None drops the tag), cut to 256 characters, each NUL and lone surrogate (a
file name decoded with `surrogateescape`) replaced by U+FFFD: a value from user data never
makes a call unstorable. Keys that look like secrets have their values redacted; at most 32
tags are kept.

A scope lives in its thread or asyncio task. Work handed to a thread pool does not see it;
`bind_tags(fn)` carries the tags in scope into it:

    with llmledger.tags(tenant="acme"):
        pool.submit(llmledger.bind_tags(summarise), doc)
        await loop.run_in_executor(None, llmledger.bind_tags(summarise), doc)
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from .record.limits import checked_text, storable

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "MAX_VALUE_LENGTH",
    "REDACTED",
    "bind_tags",
    "clean_explicit",
    "current",
    "entered",
    "merge",
    "resolve_defaults",
    "snapshot",
    "tags",
]

log = logging.getLogger("llmledger")

MAX_TAGS = 32
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 256
REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"api[_-]?key|token|password|passwd|secret|authorization|auth[_-]?header|cookie|"
    r"credential|private[_-]?key|session[_-]?id",
    re.IGNORECASE,
)

# Each scope holds its own dict, never mutated after it is set: a reference is a snapshot.
_scope: ContextVar[dict[str, str]] = ContextVar("llmledger_tags", default={})  # noqa: B039 - never mutated

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def _clean(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    """Tags as storable strings, secrets redacted, sizes capped. Raises on unusable keys, at
    the caller; values are normalised (`limits.storable`), never refused."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{where}: tag keys must be non-empty strings, got {key!r}")
        checked_text(f"{where}: tag key", key, MAX_KEY_LENGTH)
        if value is None:
            continue
        text = REDACTED if _SECRET_KEY.search(key) else str(value)
        out[key] = storable(text, MAX_VALUE_LENGTH)
    return out


def merge(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win; the result keeps at most MAX_TAGS keys (the first ones set)."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    if len(merged) > MAX_TAGS:
        log.warning("llmledger: %d tags on one call; keeping the first %d", len(merged), MAX_TAGS)
        merged = dict(list(merged.items())[:MAX_TAGS])
    return merged


def current() -> Mapping[str, str]:
    """The tags of the enclosing scopes, read-only."""
    return MappingProxyType(_scope.get())


def snapshot() -> dict[str, str]:
    """The scope's tags as they are now, for a call that starts now. Never mutated: each scope
    holds its own dict, so keeping a reference is a snapshot."""
    return _scope.get()


def _enter(scoped: dict[str, str]) -> Token[dict[str, str]]:
    return _scope.set(merge(_scope.get(), scoped))


class tags:
    """Scope tags to a block (`with`) or to every call of a function (decorator). The scope
    does not reach a thread pool's workers: hand them `bind_tags(fn)`."""

    __slots__ = ("_tags", "_tokens")

    def __init__(self, **kv: Any) -> None:
        self._tags = _clean(kv, "llmledger.tags()")
        self._tokens: list[Token[dict[str, str]]] = []

    def __enter__(self) -> Mapping[str, str]:
        self._tokens.append(_enter(self._tags))
        return current()

    def __exit__(self, *exc: object) -> None:
        _scope.reset(self._tokens.pop())

    def __call__(self, fn: F) -> F:
        scoped = self._tags

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _enter(scoped)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _scope.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _enter(scoped)
            try:
                return fn(*args, **kwargs)
            finally:
                _scope.reset(token)

        return wrapper  # type: ignore[return-value]


def bind_tags(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, carrying the tags in scope now to wherever it runs: a `ThreadPoolExecutor`,
    `loop.run_in_executor`, a thread of your own. Their workers do not see the caller's
    `with tags(...)` (a scope lives in its thread or task).

        with llmledger.tags(tenant="acme"):
            futures = [pool.submit(llmledger.bind_tags(summarise), doc) for doc in docs]

    Each call of the result runs `fn` with exactly the tags bound, whatever scope the worker
    is in, and restores the worker's scope after. The result may run in many threads at once.
    """
    scoped = _scope.get()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _scope.set(scoped)
        try:
            return fn(*args, **kwargs)
        finally:
            _scope.reset(token)

    return bound


@contextmanager
def entered(scoped: dict[str, str]) -> Iterator[None]:
    """Run a block with exactly the tags of `scoped`, a `snapshot()` taken earlier: for work
    that goes on after its scope ended (a streamed response body, a queued task), as
    `bind_tags` does for a function."""
    token = _scope.set(scoped)
    try:
        yield
    finally:
        _scope.reset(token)


def clean_explicit(explicit: Mapping[str, Any] | None) -> dict[str, str]:
    """Explicit per-call tags, validated where the user passed them."""
    return _clean(explicit, "tags=") if explicit else {}


def resolve_defaults(
    default_tags: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None,
) -> dict[str, str]:
    """The configured defaults for one call. A failing callable is logged, never raised."""
    if default_tags is None:
        return {}
    if callable(default_tags):
        try:
            value = default_tags()
            return _clean(value, "default_tags()") if value else {}
        except Exception:  # the user's callable: anything it raises must not break their call
            log.exception("llmledger: default_tags callable failed; recording without defaults")
            return {}
    return _clean(default_tags, "default_tags")
