"""Pooling the latencies of a rollup's parts, group by group, for the exact statistics.

A rollup in parts keeps every call's latency (exact percentiles need each value): the lists
`latency_ms_values` of each part's groups. The merge hands the core each group's lists joined,
in part order (so the mean sums in the one-part order), a run of groups at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["POOLED_VALUES", "pooled_runs", "ranges"]

POOLED_VALUES = 4_000_000
"""About how many latencies a run holds (32 MB): the core copies a run's, not every call's."""


def pooled_runs(parts: Sequence[pl.DataFrame], rows: pl.Series) -> Iterator[pa.LargeListArray]:
    """Each group's latencies: the lists `latency_ms_values` of the group's `rows` (indices
    into the parts one after the other), in order, joined; in runs of consecutive groups of
    about `POOLED_VALUES` latencies (a group is never cut). Each run is copied straight from
    the parts' buffers: the merge of a 50M-call rollup holds every call's latency once, in
    the parts, and a run. (Polars' `gather` on a list column of many chunks first copies it
    whole, and a `group_by` exploding the lists made three copies.)"""
    if not rows.len():  # no group: one empty run, for the statistics' columns
        yield pa.array([], pa.large_list(pa.float64()))
        return
    lists = [p.get_column("latency_ms_values").rechunk().to_arrow() for p in parts]
    flats = [a.values.to_numpy() for a in lists]
    offsets = [a.offsets.to_numpy() for a in lists]
    part_of = np.repeat(np.arange(len(parts)), [len(a) for a in lists])
    starts = np.concatenate([o[:-1] for o in offsets])
    lengths = np.concatenate([np.diff(o) for o in offsets])
    order = rows.explode(empty_as_null=False).drop_nulls().to_numpy()
    row_ends = rows.list.len().cast(pl.Int64).cum_sum().to_numpy()
    value_ends = np.cumsum(lengths[order])[row_ends - 1]
    group_starts = np.concatenate([[0], value_ends[:-1]])
    runs = np.flatnonzero(np.diff(group_starts // POOLED_VALUES)) + 1
    for first, end in zip([0, *runs], [*runs, len(row_ends)], strict=True):
        row_first = 0 if first == 0 else row_ends[first - 1]
        run = order[row_first : row_ends[end - 1]]
        base = group_starts[first]
        out = np.empty(value_ends[end - 1] - base, np.float64)
        sizes, part_of_run = lengths[run], part_of[run]
        at = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # each row's place in `out`
        # The run's rows part by part (stable: in their order), each part's copied at once.
        by_part = np.argsort(part_of_run, kind="stable")
        bounds = np.searchsorted(part_of_run[by_part], np.arange(len(parts) + 1))
        for part, (low, high) in enumerate(pairwise(bounds)):
            mine = by_part[low:high]
            if mine.size:
                source = ranges(starts[run[mine]], sizes[mine])
                out[ranges(at[mine], sizes[mine])] = flats[part][source]
        cuts = np.concatenate([[0], value_ends[first:end] - base])
        yield pa.LargeListArray.from_arrays(pa.array(cuts), pa.array(out))


def ranges(firsts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The indices `first, first + 1, ..., first + size - 1` of each range, one after another."""
    total = int(sizes.sum())
    shift = np.repeat(firsts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    return shift + np.arange(total)
