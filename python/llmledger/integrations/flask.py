"""Flask: the tags of each request, in scope while its view runs and its body streams.

    import llmledger.integrations.flask
    llmledger.integrations.flask.init_app(app, tags=lambda request: {
        "tenant": g.tenant, "route": request.endpoint})

`tags(request)` gets the `flask.Request` (and may read `g`), and returns the request's tags.
It is called in a `before_request` hook: call `init_app` after registering the hooks that set
what it reads, as Flask runs them in that order. The scope ends as the request is torn down;
a streamed body (a generator the view returns) is iterated after that, so its chunks are
made in the request's tags again. A request makes no row of its own.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from ._web import ScopedBody, TagsFor, scope_for

__all__ = ["init_app"]

# Where the request's scope is kept on `g`, from `before_request` to `teardown_request`.
_SCOPE = "_llmledger_tags"


def init_app(app: Flask, *, tags: TagsFor) -> None:
    """Put the tags `tags(request)` returns in scope for each of `app`'s requests."""
    if not callable(tags):
        raise TypeError(f"init_app: tags must be a callable, got {type(tags).__name__}")

    def enter() -> None:
        found = scope_for(tags, request._get_current_object(), "flask init_app")  # type: ignore[attr-defined]
        if found is not None:
            found.__enter__()
            setattr(g, _SCOPE, found)

    def stream_in_scope(response: Response) -> Response:
        if response.is_streamed and getattr(g, _SCOPE, None) is not None:
            response.response = ScopedBody(response.response)
        return response

    def leave(error: BaseException | None) -> None:
        found = g.pop(_SCOPE, None)
        if found is not None:
            found.__exit__(None, None, None)

    app.before_request(enter)
    app.after_request(stream_in_scope)
    app.teardown_request(leave)
