"""Staging a database outage in front of a test database (see `Outage`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import make_url
from tcp_proxy import TcpProxy, free_port

from llmledger.store import make_engine, upgrade


class Outage:
    """A URL to the test database that is unavailable until `recover()`.

    Servers: a port where nothing listens, until a forwarder to the real server starts there
    (`fail()` stops it again, cutting open connections). SQLite: a file in a folder that
    does not exist yet ("unable to open database file").
    """

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        url = make_url(database_url)
        self.proxy = None
        if url.get_backend_name() == "sqlite":
            self.sqlite_file = tmp_path / "not-yet" / "ledger.db"
            self.url = f"sqlite:///{self.sqlite_file}"
        else:
            self.proxy = TcpProxy((url.host, url.port), free_port())
            self.url = url.set(port=self.proxy.port).render_as_string(hide_password=False)

    def recover(self) -> None:
        if self.proxy is not None:
            self.proxy.start()
            return
        self.sqlite_file.parent.mkdir()
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()

    def fail(self) -> None:
        self.proxy.stop()
