//! Exact latency statistics per group (mean, p50, p95, max) without a vector per group.
//!
//! A counting sort lays each group's latencies out contiguously in one flat array: count per
//! group and row span, then each span scatters its rows to its own positions, in row order.
//! The percentiles are then selections within each group's slice, groups in parallel; the
//! slices follow row order, so the means are reproducible. For statistics, the array holds a
//! block of groups at a time ([`stats`]); for values returned, all of them ([`values`]).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::codes::Code;
use super::input::{split_mut, Cols, RowRange};
use super::pages;

/// `[mean, p50, p95, max]` per group, `None` for a group without latencies.
pub type Stats = [Option<f64>; 4];

/// Every group's latencies, in row order, one group after another: group `g`'s are
/// `values[offsets[g]..offsets[g + 1]]`.
#[derive(Debug, Clone)]
pub struct Values {
    /// The latencies.
    pub values: Vec<f64>,
    /// `groups + 1` offsets into `values`.
    pub offsets: Vec<usize>,
}

/// Per group: the sum of its latencies (fixed point, as [`mean`] sums them, so the sums of
/// parts add up to the whole's whatever the order), their count and their maximum.
#[derive(Debug, Clone)]
pub struct Sums {
    /// The sums, in 2^-32 ms steps.
    pub sum: Vec<i128>,
    /// The latencies counted (rows whose latency is not null).
    pub count: Vec<u64>,
    /// The largest latency, None for a group without one.
    pub max: Vec<Option<f64>>,
}

impl Sums {
    /// Group `g`'s sum in milliseconds.
    pub fn sum_ms(&self, g: usize) -> f64 {
        self.sum[g] as f64 / SCALE
    }
}

/// [`Sums`] of the rows of `chunks`, a span per chunk on its own core, added up after.
pub fn sums<T: Code>(chunks: &[&[RowRange]], cols: &[Cols], gid: &[T], groups: usize) -> Sums {
    let empty = || Sums {
        sum: vec![0; groups],
        count: vec![0; groups],
        max: vec![None; groups],
    };
    let spans: Vec<Sums> = chunks
        .par_iter()
        .map(|chunk| {
            let mut s = empty();
            each_latency(chunk, cols, gid, groups, |g, v| {
                s.sum[g] = s.sum[g].saturating_add(fixed(v));
                s.count[g] += 1;
                s.max[g] = Some(s.max[g].map_or(v, |m| m.max(v)));
            });
            s
        })
        .collect();
    let mut spans = spans.into_iter();
    let mut total = spans.next().unwrap_or_else(empty);
    for s in spans {
        for g in 0..groups {
            total.sum[g] = total.sum[g].saturating_add(s.sum[g]);
            total.count[g] += s.count[g];
            total.max[g] = match (total.max[g], s.max[g]) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    total
}

/// Latencies [`stats`] lays out at a time: up to this many (32 MiB, the size of a shared
/// last-level cache), or up to a [`BLOCKS`]th of all of them when that is more.
const BLOCK_VALUES: usize = 1 << 22;

/// A block may hold a `BLOCKS`th of all the values, when that is more than [`BLOCK_VALUES`].
/// Each block reads the group ids and latencies again, so a fixed block size would make the
/// time grow with the square of the rows; this way there are fewer than twice this many blocks
/// (two blocks in a row hold more than a block may).
const BLOCKS: usize = 4;

/// Statistics per group of the rows of `chunks` (group ids in `gid`, by global row).
///
/// The groups are taken a block at a time, each block's latencies laid out in one buffer
/// reused for the next, so the memory is a block's rather than every row's: at 10M rows
/// 32 MiB instead of 80 MB, at 50M rows 100 MB instead of 400 MB. Each block reads the group
/// ids and latencies again, sequentially; its scatter lands in a range the cache can hold.
pub fn stats<T: Code>(
    chunks: &[&[RowRange]],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
) -> Vec<Stats> {
    stats_by_blocks(chunks, cols, gid, groups, BLOCK_VALUES, BLOCKS)
}

/// [`stats`], a block holding up to `most` values or a `share`th of all of them, whichever
/// is more (and one group's, when that is more still).
pub(super) fn stats_by_blocks<T: Code>(
    chunks: &[&[RowRange]],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
    most: usize,
    share: usize,
) -> Vec<Stats> {
    if cols.iter().any(|c| c.latency.is_none()) {
        return vec![[None; 4]; groups];
    }
    let (counts, sizes) = counts(chunks, cols, gid, groups);
    let total: usize = sizes.iter().sum();
    let blocks = blocks(&sizes, most.max(total.div_ceil(share)));
    let largest = blocks
        .iter()
        .map(|b| sizes[b.clone()].iter().sum::<usize>())
        .max()
        .unwrap_or(0);
    let mut buffer: Vec<AtomicU64> = pages::with_capacity(largest);
    buffer.extend((0..largest).map(|_| AtomicU64::new(0)));
    let mut stats = vec![[None; 4]; groups];
    for block in blocks {
        let offsets = offsets(&sizes[block.clone()]);
        scatter(chunks, cols, gid, &counts, block.clone(), &offsets, &buffer);
        let total = offsets[offsets.len() - 1];
        // SAFETY: `AtomicU64` has the size, alignment and bit validity of `u64`, whose bits
        // are all valid `f64`s, and `buffer` is borrowed mutably here, so no other reference
        // to these values exists while the slice lives.
        let values =
            unsafe { std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<f64>(), total) };
        stats_into(values, &offsets, &mut stats[block]);
    }
    stats
}

/// The latencies of each group of the rows of `chunks`, laid out by [`Values`].
pub fn values<T: Code>(chunks: &[&[RowRange]], cols: &[Cols], gid: &[T], groups: usize) -> Values {
    if cols.iter().any(|c| c.latency.is_none()) {
        return Values {
            values: Vec::new(),
            offsets: vec![0; groups + 1],
        };
    }
    let (counts, sizes) = counts(chunks, cols, gid, groups);
    let offsets = offsets(&sizes);
    let total = offsets[groups];
    let mut flat: Vec<AtomicU64> = pages::with_capacity(total);
    flat.extend((0..total).map(|_| AtomicU64::new(0)));
    scatter(chunks, cols, gid, &counts, 0..groups, &offsets, &flat);
    let values = flat
        .into_iter()
        .map(|a| f64::from_bits(a.into_inner()))
        .collect();
    Values { values, offsets }
}

/// How many latencies each span of `chunks` has per group, and each group in all.
fn counts<T: Code>(
    chunks: &[&[RowRange]],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
) -> (Vec<Vec<u32>>, Vec<usize>) {
    let counts: Vec<Vec<u32>> = chunks
        .par_iter()
        .map(|chunk| {
            let mut counts = vec![0u32; groups];
            each_latency(chunk, cols, gid, groups, |g, _| counts[g] += 1);
            counts
        })
        .collect();
    let sizes = (0..groups)
        .map(|g| counts.iter().map(|c| c[g] as usize).sum())
        .collect();
    (counts, sizes)
}

/// Consecutive ranges of groups holding at most `most` values each (or one group).
fn blocks(sizes: &[usize], most: usize) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (g, &n) in sizes.iter().enumerate() {
        if held + n > most && g > start {
            blocks.push(start..g);
            (start, held) = (g, 0);
        }
        held += n;
    }
    if start < sizes.len() {
        blocks.push(start..sizes.len());
    }
    blocks
}

/// Where each group's values start, and their total at the end.
fn offsets(sizes: &[usize]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(sizes.len() + 1);
    let mut total = 0;
    for &n in sizes {
        offsets.push(total);
        total += n;
    }
    offsets.push(total);
    offsets
}

/// Writes the latencies of `block`'s groups to `out`, group `block.start + k`'s from
/// `offsets[k]`, each span of `chunks` after the spans before it (row order within a group).
fn scatter<T: Code>(
    chunks: &[&[RowRange]],
    cols: &[Cols],
    gid: &[T],
    counts: &[Vec<u32>],
    block: Range<usize>,
    offsets: &[usize],
    out: &[AtomicU64],
) {
    let mut cursor = offsets[..block.len()].to_vec();
    let starts: Vec<Vec<usize>> = counts
        .iter()
        .map(|c| {
            c[block.clone()]
                .iter()
                .zip(cursor.iter_mut())
                .map(|(&n, cur)| {
                    let start = *cur;
                    *cur += n as usize;
                    start
                })
                .collect()
        })
        .collect();
    // Spans write disjoint positions; relaxed atomics make that safe without locks.
    chunks.par_iter().zip(starts).for_each(|(chunk, mut next)| {
        each_latency(chunk, cols, gid, block.end, |g, v| {
            if let Some(k) = g.checked_sub(block.start) {
                out[next[k]].store(v.to_bits(), Ordering::Relaxed);
                next[k] += 1;
            }
        });
    });
}

/// Calls `f(group, latency)` for each row of `chunk` with a latency and a group id below
/// `groups` (filtered-out rows have a larger one), in row order.
#[inline]
fn each_latency<T: Code>(
    chunk: &[RowRange],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
    mut f: impl FnMut(usize, f64),
) {
    for r in chunk {
        let Some(column) = &cols[r.batch].latency else {
            continue;
        };
        let (values, nulls) = column.parts();
        let ids = &gid[r.global..r.global + r.len()];
        for (i, &g) in (r.start..r.end).zip(ids) {
            if g.index() < groups && nulls.is_none_or(|n| n.is_valid(i)) {
                f(g.index(), values[i]);
            }
        }
    }
}

/// Statistics of each group of values laid out by [`Values`] (reordered in place).
pub fn stats_of(values: &mut [f64], offsets: &[usize]) -> Vec<Stats> {
    let mut stats = vec![[None; 4]; offsets.len() - 1];
    stats_into(values, offsets, &mut stats);
    stats
}

/// [`stats_of`] written into `stats`, one per group: a block's statistics go straight to
/// their place among all the groups', with no array of their own.
fn stats_into(values: &mut [f64], offsets: &[usize], stats: &mut [Stats]) {
    split_mut(values, offsets.windows(2).map(|w| w[1] - w[0]))
        .into_par_iter()
        .zip(stats)
        .for_each(|(values, stats)| *stats = group_stats(values));
}

/// `[mean, p50, p95, max]` of one group's values (reordered in place).
///
/// One chain of selections: p50 partitions the slice, p95 is selected in the part above it,
/// and the maximum is found in the part above that, so each step reads only what the one
/// before left above it.
fn group_stats(values: &mut [f64]) -> Stats {
    if values.is_empty() {
        return [None; 4];
    }
    let mean = mean(values);
    let (p50, at50) = quantile(values, 0, 0.5);
    let (p95, at95) = quantile(values, at50, 0.95);
    let max = values[at95..]
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .expect("the p95 rank is a position of the slice");
    [Some(mean), Some(p50), Some(p95), Some(max)]
}

/// Latencies are summed in fixed point, 2^-32 ms steps, so the mean is the same whatever
/// order the rows came in (a float sum's last bits depend on it; a ledger read from SQL in
/// concurrent parts has no fixed order). Rounding each value to 2^-32 ms (0.2 ps) is far below
/// what a clock measures; an i128 holds 2^95 ms of such steps.
fn mean(values: &[f64]) -> f64 {
    let sum = values
        .iter()
        .fold(0i128, |acc, &v| acc.saturating_add(fixed(v)));
    sum as f64 / SCALE / values.len() as f64
}

const SCALE: f64 = 4_294_967_296.0; // 2^32

/// `(v * 2^32).round()` as an integer. Below 2^31 ms (24 days), which is every latency a
/// clock reports, this is a truncating conversion and a comparison, not the library `round`
/// and a float-to-i128 conversion (software on x86-64; together 3-4% of a profiled 10M-row run).
#[inline]
fn fixed(v: f64) -> i128 {
    let x = v * SCALE;
    if x.abs() < 9.0e18 {
        let t = x as i64; // toward zero
        let rest = x - t as f64; // exact: a double's fractional part is a double
        let away = i64::from(rest >= 0.5) - i64::from(rest <= -0.5);
        i128::from(t + away)
    } else {
        x.round() as i128
    }
}

/// Linear-interpolated quantile `q` of `values` (as numpy's default), given that
/// `values[..from]` hold no value above `values[from..]`'s smallest (a previous call's
/// partition). Reorders `values[from..]` in place and returns the quantile and the rank it
/// selected, above which the slice holds only values no smaller.
fn quantile(values: &mut [f64], from: usize, q: f64) -> (f64, usize) {
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize; // no lower than `from`: q only grows along a chain
    let (_, &mut low, upper) = values[from..].select_nth_unstable_by(lo - from, f64::total_cmp);
    let frac = pos - lo as f64;
    if frac == 0.0 {
        return (low, lo);
    }
    let high = upper
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .expect("frac > 0 implies a next value");
    (low + (high - low) * frac, lo)
}
