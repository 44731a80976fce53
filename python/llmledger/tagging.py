"""Tags: who spent it. A `contextvars` scope, so threads and asyncio tasks stay isolated.

    with llmledger.tags(feature="chat", tenant="acme"):
        ...                      # every call recorded here carries both tags

    @llmledger.tags(job="nightly-summary")
    def run(): ...

Nested scopes merge (inner wins). A call's tags are, lowest precedence first: the configured
`default_tags` (a dict, or a callable evaluated per call), the scope when the call started,
then the tags passed explicitly. Values are stored as strings; keys that look like secrets
have their values redacted; the number of tags and their sizes are capped.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "MAX_VALUE_LENGTH",
    "REDACTED",
    "clean_explicit",
    "current",
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


def _clean(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    """Tags as strings, secrets redacted, sizes capped. Raises on unusable keys, at the caller."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{where}: tag keys must be non-empty strings, got {key!r}")
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"{where}: tag key {key[:20]!r}... is over {MAX_KEY_LENGTH} chars")
        if value is None:
            continue
        text = REDACTED if _SECRET_KEY.search(key) else str(value)
        out[key] = text[:MAX_VALUE_LENGTH]
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
    """Scope tags to a block (`with`) or to every call of a function (decorator)."""

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
