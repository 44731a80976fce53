"""The standalone server's authentication: one shared token, as a bearer token or as the
password of HTTP basic auth (what a browser asks for itself; any user name).

For `llmledger dashboard --token T`. An app that mounts the dashboard puts it behind its own
auth instead. Compared in constant time; a request without the token gets 401 and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

__all__ = ["TokenAuth"]


class TokenAuth:
    """ASGI middleware letting through HTTP requests that carry `token`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", b'Basic realm="llmledger", charset="UTF-8"'),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"401: the dashboard needs its token\n"})

    def _allowed(self, scope: dict) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, value = header.partition(b" ")
        if scheme.lower() == b"bearer":
            return hmac.compare_digest(value.strip(), self.token)
        if scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True)
            except binascii.Error:  # not base64: no credentials at all
                return False
            return hmac.compare_digest(decoded.partition(b":")[2], self.token)
        return False
