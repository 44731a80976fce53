"""Database URLs as people write them, made into the URLs SQLAlchemy opens.

A bare path (`ledger.db`) is a SQLite file. `postgres://` and `postgresql://` open through
psycopg, `mysql://` and `mariadb://` through PyMySQL: the drivers llmledger's extras install,
where SQLAlchemy's own defaults (psycopg2, mysqlclient) usually are not installed and would
fail with an import error deep in a connection attempt. A URL that names a driver keeps it.
Anything llmledger cannot open is an `UnusableDatabaseURL` naming it, password hidden,
before any connection is tried. `configure()`, `LLMLEDGER_DATABASE_URL` and every command go
through `ledger_url` (by way of `make_engine`), so they accept the same forms.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = ["UnusableDatabaseURL", "hide_password", "ledger_url", "sqlite_file"]

_DEFAULT_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
# "sqlite:ledger.db" or "postgresql:/host": a scheme without "//". One letter is a Windows
# drive ("C:\\ledger.db"), a path.
_SCHEME_WITHOUT_SLASHES = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(?!//)")
# Up to the last "@": a password with an unescaped "@" is hidden whole (more, not less).
_PASSWORD = re.compile(r"(://[^:/@]*:).*@")
_FORMS = "give a file path (ledger.db), sqlite:///PATH, postgresql://... or mysql://..."


class UnusableDatabaseURL(ValueError):
    """A database URL llmledger cannot open: not a URL, an unsupported database, or a
    driver that is not installed. The message names it with the password hidden."""


def hide_password(url: str | URL) -> str:
    """`url` for printing: its password, if any, as `***`, even where it does not parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def ledger_url(given: str | URL) -> URL:
    """The SQLAlchemy URL for `given`: a URL or a bare SQLite file path (`~` expanded),
    `postgres://`/`postgresql://` with psycopg and `mysql://`/`mariadb://` with PyMySQL
    unless a driver is named. `UnusableDatabaseURL` if llmledger cannot open it."""
    if isinstance(given, URL):
        url = given
    elif "://" not in given:
        if _SCHEME_WITHOUT_SLASHES.match(given):
            raise UnusableDatabaseURL(f"not a database URL: {hide_password(given)} ({_FORMS})")
        return URL.create("sqlite", database=os.path.expanduser(given))
    else:
        try:
            url = make_url(given)
        except (ArgumentError, ValueError) as error:  # unparsable, or a port that is no number
            raise UnusableDatabaseURL(
                f"not a database URL: {hide_password(given)} ({error})"
            ) from None
    url = url.set(drivername=_DEFAULT_DRIVERS.get(url.drivername, url.drivername))
    if url.get_backend_name() not in _BACKENDS:
        raise UnusableDatabaseURL(
            f"unsupported database {hide_password(url)}: llmledger records into SQLite, "
            f"PostgreSQL or MySQL/MariaDB ({_FORMS})"
        )
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:  # a driver name SQLAlchemy does not know
        raise UnusableDatabaseURL(
            f"unknown driver {url.get_driver_name()!r} in {hide_password(url)} ({_FORMS})"
        ) from None
    except ImportError as error:  # a known driver that is not installed
        raise UnusableDatabaseURL(
            f"the driver of {hide_password(url)} is not installed ({error}); postgresql:// "
            "and mysql:// use those of pip install 'llmledger[postgres]' / 'llmledger[mysql]'"
        ) from None
    return url


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite file database, else None (in-memory, a `file:` URI, a server)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") == "true":
        return None
    return Path(url.database)
