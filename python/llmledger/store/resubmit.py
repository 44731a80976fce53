"""Sending set-aside rows again, once whatever made the database refuse them is fixed.

A row is refused for its content: a value too long for a column that has since been widened,
a constraint since relaxed, a bug since fixed and its rows corrected by hand in the rejected
file. `resubmit_rejected` sends every row of the rejected file again, keyed by `event_id`
(a row already in the ledger is kept once). Rows that fail again go back to the rejected
file, with the new reason when the database refused them again, as they were otherwise;
entries that are not rows stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from .failures import describe
from .inserter import Inserter
from .snapshots import save_kept_snapshots
from .spool import Spool, encode_rejected
from .totals import TotalsSpec

__all__ = ["Resubmitted", "resubmit_rejected"]


@dataclass
class Resubmitted:
    """What `resubmit_rejected` did; ``str()`` is its one-line summary."""

    written: int = 0
    refused: int = 0  # refused again: back in the rejected file, with the new reason
    kept: int = 0  # not tried or not written (the database unavailable): back as they were
    not_rows: int = 0  # entries without a row (torn lines): left in the rejected file
    unavailable: str | None = None

    def __str__(self) -> str:
        text = f"{self.written:,} rows written, {self.refused:,} refused again"
        if self.kept:
            text += f", {self.kept:,} not written ({self.unavailable or 'database error'})"
        if self.not_rows:
            text += f", {self.not_rows:,} entries that are not rows left as they are"
        return text

    @property
    def complete(self) -> bool:
        """Whether every entry went into the database."""
        return not (self.refused or self.kept or self.not_rows)


def resubmit_rejected(
    engine: Engine, spool: Spool, batch_size: int = 500, totals: TotalsSpec | None = None
) -> Resubmitted:
    """Send the rows of `spool`'s rejected file to `engine` again (see the module's doc).

    The file is moved aside first, so rows the app sets aside meanwhile wait for the next
    run, and a run cut short leaves its file to be picked up by the next one. Rows written
    are added to the spend totals of `totals` (the spec the database's totals were built for).
    """
    inserter = Inserter(engine, batch_size, totals)
    summary = Resubmitted()
    save_kept_snapshots(engine, spool)  # the rows may name a snapshot only the spool holds
    for path in spool.claim_rejected():
        entries = spool.read_rejected(path)
        rows = [entry.row for entry in entries if entry.row is not None]
        result = inserter.insert(rows)
        summary.written += result.written
        back = [entry.entry for entry in entries if entry.row is None]
        summary.not_rows += len(back)
        for row, exc in result.refused:
            back.append(encode_rejected(describe(exc), row=row))
        summary.refused += len(result.refused)
        kept = {id(row) for row in result.kept}
        back += [entry.entry for entry in entries if id(entry.row) in kept]
        summary.kept += len(result.kept)
        if result.unavailable is not None:
            summary.unavailable = describe(result.unavailable)
        if back:
            spool.append(b"".join(back), rejects=True)
        path.unlink()
    return summary
