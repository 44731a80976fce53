"""The spend report as terminal text."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ..money import usd
from .summary import Summary

__all__ = ["render"]


def _table(frame: pl.DataFrame, keys: list[str]) -> list[str]:
    rows = [
        [*(str(r[k]) for k in keys), f"{r['calls']:,}", usd(r["cost"]), _share(r["share"])]
        for r in frame.iter_rows(named=True)
    ]
    header = [*keys, "calls", "cost", "share"]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    numeric = set(range(len(keys), len(header)))

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()  # an unpriced row has no share

    return ["  " + line(header), "  " + line(["-" * w for w in widths])] + [
        "  " + line(r) for r in rows
    ]


def _weekly(weekly: pl.DataFrame) -> list[str]:
    peak = max((c for c in weekly["cost"] if c is not None), default=0) or 1
    lines = []
    for r in weekly.iter_rows(named=True):
        bar = "#" * round(40 * (r["cost"] or 0) / peak)
        line = f"  {r['week']}  {r['calls']:>8,}  {usd(r['cost']):>12}  {bar}"
        lines.append(line.rstrip())
    return lines


def _share(share: Decimal | None) -> str:
    return "" if share is None else f"{share:.1%}"


def render(s: Summary, title: str = "llmledger report") -> str:
    """The report as lines of text for a terminal."""
    if not s.calls:
        return f"{title}\n  no calls recorded in this range"
    out = [
        title,
        f"  period      {s.first:%Y-%m-%d %H:%M} .. {s.last:%Y-%m-%d %H:%M} UTC",
        f"  spend       {usd(s.cost)}  over {s.calls:,} calls",
        f"  unpriced    {s.unpriced_calls:,} calls ({s.unpriced_calls / s.calls:.1%}): "
        "cost unknown, not zero",
        f"  failed      {s.failed_calls:,} calls",
        "  tokens      "
        + ", ".join(f"{k.removesuffix('_tokens')} {v:,}" for k, v in s.tokens.items() if v),
        "",
        "Top models",
        *_table(s.top_models, ["provider", "model"]),
    ]
    out += ["", "Spend by week (UTC, from Monday)", *_weekly(s.weekly)]
    for key, frame in s.by_tag.items():
        out += ["", f"Top {key}", *_table(frame, [key])]
    if s.unpriced_models.height:
        out += ["", "Unpriced models (add a price override, or wait for the catalog)"]
        out += [
            f"  {r['provider']}/{r['model']}: {r['calls']:,} calls"
            for r in s.unpriced_models.iter_rows(named=True)
        ]
    return "\n".join(out)
