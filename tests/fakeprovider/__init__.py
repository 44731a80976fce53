"""A fake LLM provider on 127.0.0.1 that replays recorded, real-shaped responses."""

from .server import FakeProvider, Reply, reply

__all__ = ["FakeProvider", "Reply", "reply"]
