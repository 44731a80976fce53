//! Exact latency statistics per group (mean, p50, p95, max) without a vector per group.
//!
//! A counting sort lays every group's latencies out contiguously in one flat array: count per
//! group and row span, then each span scatters its rows to its own positions, in row order.
//! The percentiles are then selections within each group's slice, groups in parallel; the
//! slices follow row order, so the means are reproducible.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::input::RowRange;
use super::rollup::Cols;

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

/// Statistics per group of the rows of `chunks` (group ids in `gid`, by global row).
pub fn stats(chunks: &[&[RowRange]], cols: &[Cols], gid: &[u32], groups: usize) -> Vec<Stats> {
    let Values {
        mut values,
        offsets,
    } = values(chunks, cols, gid, groups);
    stats_of(&mut values, &offsets)
}

/// The latencies of each group of the rows of `chunks`, laid out by [`Values`].
pub fn values(chunks: &[&[RowRange]], cols: &[Cols], gid: &[u32], groups: usize) -> Values {
    if cols.iter().any(|c| c.latency.is_none()) {
        return Values {
            values: Vec::new(),
            offsets: vec![0; groups + 1],
        };
    }
    let counts: Vec<Vec<u32>> = chunks
        .par_iter()
        .map(|chunk| {
            let mut counts = vec![0u32; groups];
            each_latency(chunk, cols, gid, groups, |g, _| counts[g] += 1);
            counts
        })
        .collect();
    let mut offsets = Vec::with_capacity(groups + 1);
    let mut total = 0usize;
    for g in 0..groups {
        offsets.push(total);
        total += counts.iter().map(|c| c[g] as usize).sum::<usize>();
    }
    offsets.push(total);
    let mut cursor = offsets[..groups].to_vec();
    let starts: Vec<Vec<usize>> = counts
        .iter()
        .map(|c| {
            c.iter()
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
    let flat: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    chunks.par_iter().zip(starts).for_each(|(chunk, mut next)| {
        each_latency(chunk, cols, gid, groups, |g, v| {
            flat[next[g]].store(v.to_bits(), Ordering::Relaxed);
            next[g] += 1;
        });
    });
    let values = flat
        .into_iter()
        .map(|a| f64::from_bits(a.into_inner()))
        .collect();
    Values { values, offsets }
}

/// Calls `f(group, latency)` for each row of `chunk` with a latency and a group id below
/// `groups` (filtered-out rows have a larger one), in row order.
#[inline]
fn each_latency(
    chunk: &[RowRange],
    cols: &[Cols],
    gid: &[u32],
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
            if (g as usize) < groups && nulls.is_none_or(|n| n.is_valid(i)) {
                f(g as usize, values[i]);
            }
        }
    }
}

/// Statistics of each group of values laid out by [`Values`] (reordered in place).
pub fn stats_of(values: &mut [f64], offsets: &[usize]) -> Vec<Stats> {
    let mut slices = Vec::with_capacity(offsets.len().saturating_sub(1));
    let mut rest = values;
    for w in offsets.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        slices.push(head);
        rest = tail;
    }
    slices
        .into_par_iter()
        .map(|values| {
            if values.is_empty() {
                return [None; 4];
            }
            let mean = mean(values);
            let max = values.iter().copied().max_by(f64::total_cmp);
            let p50 = quantile(values, 0.5);
            let p95 = quantile(values, 0.95);
            [Some(mean), Some(p50), Some(p95), max]
        })
        .collect()
}

/// Latencies are summed in fixed point, 2^-32 ms steps, so the mean is the same whatever
/// order the rows came in (a float sum's last bits depend on it; a ledger read from SQL in
/// concurrent parts has no fixed order). Rounding each value to 2^-32 ms (0.2 ps) is far below
/// what a clock measures; an i128 holds 2^95 ms of such steps.
fn mean(values: &[f64]) -> f64 {
    const SCALE: f64 = 4_294_967_296.0; // 2^32
    let sum = values.iter().fold(0i128, |acc, &v| {
        acc.saturating_add((v * SCALE).round() as i128)
    });
    sum as f64 / SCALE / values.len() as f64
}

/// Linear-interpolated quantile `q` of `values` (reordered in place), as numpy's default.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut low, upper) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let frac = pos - lo as f64;
    if frac == 0.0 {
        return low;
    }
    let high = upper
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .expect("frac > 0 implies a next value");
    low + (high - low) * frac
}
