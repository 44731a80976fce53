"""Django: the tags of each request, in scope while its view runs and its body streams.

    # settings.py
    MIDDLEWARE = [..., "llmledger.integrations.django.TagsMiddleware"]
    LLMLEDGER_TAGS = "myproject.ledger.request_tags"    # or the callable itself

    # myproject/ledger.py
    def request_tags(request):
        return {"tenant": request.tenant.slug, "user_id": request.user.pk}

`LLMLEDGER_TAGS` (the settings hook) names the callable, a dotted path or the function;
it gets the `HttpRequest` and returns the request's tags. List the middleware after those
that set what it reads (`AuthenticationMiddleware` for `request.user`). Sync and async
(ASGI) requests both; a `StreamingHttpResponse` is sent after the middleware returns, so its
chunks are made in the request's tags again. A request makes no row of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from ._web import ScopedAsyncBody, ScopedBody, TagsFor, scope_for

__all__ = ["TagsMiddleware"]


def _tags_setting() -> TagsFor:
    """The callable `LLMLEDGER_TAGS` names; ImproperlyConfigured, at startup, if it names none."""
    hook = getattr(settings, "LLMLEDGER_TAGS", None)
    if hook is None:
        raise ImproperlyConfigured(
            "llmledger.integrations.django.TagsMiddleware needs LLMLEDGER_TAGS in settings: "
            "the dotted path of a function(request) -> dict of tags"
        )
    if isinstance(hook, str):
        hook = import_string(hook)
    if not callable(hook):
        raise ImproperlyConfigured(f"LLMLEDGER_TAGS must name a callable, got {hook!r}")
    return hook  # type: ignore[no-any-return]


class TagsMiddleware:
    """Puts the tags `settings.LLMLEDGER_TAGS(request)` returns in scope for each request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.tags = _tags_setting()
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        found = scope_for(self.tags, request, "TagsMiddleware")
        if found is None:
            return self.get_response(request)
        with found:
            return _streamed_in_scope(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        found = scope_for(self.tags, request, "TagsMiddleware")
        if found is None:
            return await get_response(request)
        with found:
            return _streamed_in_scope(await get_response(request))


def _streamed_in_scope(response: HttpResponseBase) -> HttpResponseBase:
    """A streamed response's body, made in the tag scope current now."""
    if getattr(response, "streaming", False):
        body = response.streaming_content  # type: ignore[attr-defined]
        is_async = getattr(response, "is_async", False)
        response.streaming_content = ScopedAsyncBody(body) if is_async else ScopedBody(body)  # type: ignore[attr-defined]
    return response
