"""Starlette and FastAPI: the tags of each request, in scope while the app answers it.

    from llmledger.integrations.starlette import TagsMiddleware
    app.add_middleware(TagsMiddleware, tags=lambda request: {
        "tenant": request.state.tenant, "route": request.url.path})

A pure ASGI middleware: `tags(request)` gets a `starlette.requests.Request` (a `WebSocket`
for a websocket) and returns the request's tags; it is called on the event loop, so it
reads the request and its state, never waits on I/O. The scope holds until the response is
sent, so calls made while a `StreamingResponse` streams, and in its background tasks, carry
them. Starlette runs the middleware added last first: add this one before the middleware
that sets what it reads (`request.state`). A request makes no row of its own: one without
LLM calls costs the callable and a contextvar set.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ._web import TagsFor, scope_for

__all__ = ["TagsMiddleware"]


class TagsMiddleware:
    """Puts the tags `tags(request)` returns in scope for each HTTP and websocket request."""

    def __init__(self, app: ASGIApp, tags: TagsFor) -> None:
        if not callable(tags):
            raise TypeError(f"TagsMiddleware: tags must be a callable, got {type(tags).__name__}")
        self.app = app
        self.tags = tags

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive) if kind == "http" else WebSocket(scope, receive, send)
        found = scope_for(self.tags, request, "TagsMiddleware")
        if found is None:
            await self.app(scope, receive, send)
            return
        with found:
            await self.app(scope, receive, send)
