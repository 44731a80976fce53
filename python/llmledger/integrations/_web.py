"""What the web framework integrations share: the app's tags callable, called per request
and contained, and response bodies that are sent after the view returns, made in the
request's tag scope.

A request's tags are the app's callable's answer for it (`tags(request)` -> a mapping),
entered as a `llmledger.tags` scope around the view. What the callable raises, and keys
that are not tags, must not fail the request: they are logged and counted (capture's
"tags" problem) and the request is served without tags.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import tagging
from ..capture.sink import report_problem

__all__ = ["ScopedAsyncBody", "ScopedBody", "TagsFor", "scope_for"]

TagsFor = Callable[[Any], Mapping[str, Any] | None]
"""The app's callable: a request in, its tags out (None or {} for none)."""


def scope_for(tags_for: TagsFor, request: Any, where: str) -> tagging.tags | None:
    """The tag scope of one request, or None when it has no tags or they cannot be had."""
    try:
        found = tags_for(request)
        return tagging.tags(**found) if found else None
    except Exception:  # the app's callable, or its keys: the request goes on without tags
        report_problem("tags", "%s: the tags callable failed; this request has no tags", where)
        return None


class ScopedBody:
    """A WSGI response body (a streamed one, iterated after the view returned) whose chunks
    are made in the tag scope that is current when it is wrapped."""

    __slots__ = ("_body", "_close", "_step")

    def __init__(self, body: Iterable[Any]) -> None:
        self._body = tagging.bind_tags(iter)(body)
        self._step: Callable[[Iterator[Any]], Any] = tagging.bind_tags(next)
        close = getattr(body, "close", None)
        self._close = tagging.bind_tags(close) if close is not None else None

    def __iter__(self) -> ScopedBody:
        return self

    def __next__(self) -> Any:
        return self._step(self._body)

    def close(self) -> None:
        """Close the body, as the server does when it is done (a generator's `finally`)."""
        if self._close is not None:
            self._close()


class ScopedAsyncBody:
    """An async response body whose chunks are made in the tag scope current when it is
    wrapped (Django under ASGI sends a streamed body after its middleware returned)."""

    __slots__ = ("_body", "_tags")

    def __init__(self, body: AsyncIterator[bytes] | Any) -> None:
        self._body = aiter(body)
        self._tags = tagging.snapshot()

    def __aiter__(self) -> ScopedAsyncBody:
        return self

    async def __anext__(self) -> bytes:
        with tagging.entered(self._tags):
            return await anext(self._body)
