"""Why a write failed: the database could not be used, or it refused one row's content.

The difference decides a row's fate. A database that is down, locked, shutting down or out of
space will take the row later, so the row waits in the spool. Only a row the database (or
its driver) refuses for what the row holds (a constraint, a value out of range, a string
that cannot be encoded) is set aside in the rejected file, because sending it again changes
nothing. Everything else, when in doubt, is not the row's fault: it waits too.

The codes below are the databases' documented ones:
SQLite https://www.sqlite.org/rescode.html, PostgreSQL SQLSTATE classes
https://www.postgresql.org/docs/current/errcodes-appendix.html, MySQL/MariaDB server and
client error numbers https://mariadb.com/kb/en/mariadb-error-codes/.
"""

from __future__ import annotations

import enum

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

__all__ = ["Failure", "classify", "describe"]


class Failure(enum.Enum):
    """What a failed insert says about the database and the row."""

    UNAVAILABLE = "unavailable"  # the database cannot be used now: keep every row, retry
    REFUSED = "refused"  # this row's content is refused: set it aside
    UNEXPLAINED = "unexplained"  # neither is sure: keep this row, go on with the others


# SQLite primary result codes of a database that cannot be used now: BUSY, LOCKED, NOMEM,
# READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB. A corrupt file is
# not the row's fault either: rows wait until the file is repaired.
_SQLITE_UNAVAILABLE = {5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26}
# TOOBIG, CONSTRAINT, MISMATCH: the row's values.
_SQLITE_REFUSED = {18, 19, 20}
# SQLSTATE classes: 08 connection, 25 invalid transaction state (a read-only standby after
# a failover), 40 rollback (serialization, deadlock), 42 missing table or privilege (the
# operator's to fix), 53 insufficient resources, 55 lock not available, 57 operator
# intervention (shutdown, statement timeout), 58 system error.
_PG_UNAVAILABLE = {"08", "25", "40", "42", "53", "55", "57", "58"}
# 22 data exception, 23 integrity constraint, 54 program limit (a value too large to index).
_PG_REFUSED = {"22", "23", "54"}
# MySQL/MariaDB: 4025 CHECK failed (MariaDB's JSON columns), 3819 CHECK failed (MySQL),
# 3140 invalid JSON, 1300 invalid character string, 1364 a NOT NULL column without a value;
# the rest of a row's faults arrive as DataError or IntegrityError already.
_MYSQL_REFUSED = {4025, 3819, 3140, 1300, 1364}
# Too many connections, access denied, unknown database, shutdown, command denied, unknown
# column or table, lock wait timeout, deadlock, read-only server, disk or table full, out of
# memory, connection killed or aborted, statement time limits; 2000-2999 are the client's
# own connection errors.
_MYSQL_UNAVAILABLE = {
    *range(2000, 3000),
    *(1021, 1037, 1038, 1040, 1041, 1044, 1045, 1049, 1053, 1054, 1114, 1142, 1146),
    *(1152, 1184, 1205, 1213, 1290, 1927, 1969, 3024, 4031),
}


def classify(exc: BaseException) -> Failure:
    """What `exc`, raised by inserting rows, says (see the module's docstring)."""
    if isinstance(exc, DBAPIError):
        return _classify_driver_error(exc)
    if isinstance(exc, StatementError):
        # SQLAlchemy could not bind a value of the row (its type processors raised).
        return Failure.REFUSED
    if isinstance(exc, (PoolTimeoutError, OSError)):
        return Failure.UNAVAILABLE
    if isinstance(exc, SQLAlchemyError):
        return Failure.UNEXPLAINED
    if isinstance(exc, (ValueError, TypeError, OverflowError, LookupError)):
        # The driver could not encode one of the row's values: an int past 64 bits on
        # SQLite, a lone surrogate (UnicodeEncodeError), a missing column in a spooled row.
        return Failure.REFUSED
    return Failure.UNEXPLAINED


def _classify_driver_error(exc: DBAPIError) -> Failure:
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return Failure.UNAVAILABLE
    orig = exc.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        code = sqlite_code & 0xFF  # the primary code; extended codes add bits above it
        if code in _SQLITE_UNAVAILABLE:
            return Failure.UNAVAILABLE
        if code in _SQLITE_REFUSED:
            return Failure.REFUSED
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and hasattr(orig, "pgconn"):  # psycopg
        if sqlstate[:2] in _PG_UNAVAILABLE:
            return Failure.UNAVAILABLE
        if sqlstate[:2] in _PG_REFUSED:
            return Failure.REFUSED
    mysql_code = _mysql_code(orig)
    if mysql_code in _MYSQL_REFUSED:
        return Failure.REFUSED
    if mysql_code in _MYSQL_UNAVAILABLE:
        return Failure.UNAVAILABLE
    if isinstance(exc, (IntegrityError, DataError)):
        return Failure.REFUSED
    if isinstance(exc, ProgrammingError) and (sqlite_code, sqlstate, mysql_code) == (None,) * 3:
        # The driver refusing to send a value ("type 'object' is not supported", "cannot
        # adapt type", "nan can not be used with MySQL"); a server's own carry its code.
        return Failure.REFUSED
    if sqlstate is None and hasattr(orig, "pgconn"):
        # psycopg without a server's code: it lost (or never had) its connection.
        return Failure.UNAVAILABLE
    return Failure.UNEXPLAINED


def _is_pymysql_error(orig: BaseException | None) -> bool:
    return type(orig).__module__.startswith("pymysql")


def _mysql_code(orig: BaseException | None) -> int | None:
    if not _is_pymysql_error(orig) or orig is None or not orig.args:
        return None
    code = orig.args[0]
    return code if isinstance(code, int) else None


def describe(exc: BaseException) -> str:
    """One line for a log or the rejected file: the driver's own message, without the SQL."""
    orig = getattr(exc, "orig", None) if isinstance(exc, StatementError) else None
    shown = orig if orig is not None else exc
    text = " ".join(str(shown).split())
    return f"{type(shown).__name__}: {text}"[:500]
