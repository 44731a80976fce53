//! Column-at-a-time aggregation by dense group id.
//!
//! Summing every measure of a row into one wide per-group record touches a random cache line
//! per row, and with a hundred thousand groups that is a miss to memory each time. Here each
//! task sums one measure over a span of rows into an array of that measure alone (8 or 16
//! bytes per group, cache resident), reading its column and the group ids sequentially.
//! Tasks (measure x row span) run on rayon's pool; spans of one measure are added at the end.

use rayon::prelude::*;

use super::input::RowRange;
use super::latency;
use super::rollup::{Cols, UNPRICED};
use crate::Error;

/// Per-group sums, indexed by group id.
#[derive(Debug, Clone)]
pub struct Sums {
    /// Rows per group.
    pub calls: Vec<i64>,
    /// Rows whose recorded cost is null.
    pub unpriced: Vec<i64>,
    /// Recorded cost, pico-USD.
    pub cost: Vec<i128>,
    /// Token sums per bucket.
    pub tokens: Vec<Vec<i64>>,
    /// Re-priced cost and the rows it left unpriced, when re-pricing.
    pub repriced: Option<(Vec<i128>, Vec<i64>)>,
    /// Latency statistics, or the latencies themselves.
    pub latency: Latency,
}

/// What a rollup says of each group's latencies.
#[derive(Debug, Clone)]
pub enum Latency {
    /// Mean, p50, p95 and max per group.
    Stats(Vec<latency::Stats>),
    /// Every latency, per group in row order: for results merged later (a ledger read in
    /// parts), whose statistics come from all the parts' values at once.
    Values(latency::Values),
}

/// One unit of work: a measure over a contiguous run of row ranges.
#[derive(Clone, Copy)]
enum Measure {
    Calls,
    Tokens(usize),
    Repriced,
}

enum Partial {
    Calls(Vec<i64>, Vec<i64>, Vec<i128>),
    Tokens(usize, Vec<i64>),
    Repriced(Vec<i128>, Vec<i64>),
}

/// Sums the rows of `ranges` whose group id (`gid`, by global row) is below `groups`.
pub fn aggregate(
    ranges: &[RowRange],
    cols: &[Cols],
    gid: &[u32],
    groups: usize,
    repriced: Option<&[i64]>,
    latency_values: bool,
) -> Result<Sums, Error> {
    // Row spans per measure: one per thread, but one in all when groups are so many that a
    // copy of each array per thread would cost more than it saves.
    let threads = rayon::current_num_threads().max(1);
    let spans = if groups > ranges.iter().map(RowRange::len).sum::<usize>() / 8 {
        1
    } else {
        threads
    };
    let per = ranges.len().div_ceil(spans).max(1);
    let chunks: Vec<&[RowRange]> = ranges.chunks(per).collect();
    let mut measures = vec![Measure::Calls];
    measures.extend((0..8).map(Measure::Tokens));
    if repriced.is_some() {
        measures.push(Measure::Repriced);
    }
    let tasks: Vec<(Measure, &[RowRange])> = measures
        .iter()
        .flat_map(|&m| chunks.iter().map(move |&c| (m, c)))
        .collect();

    let (partials, latency) = rayon::join(
        || {
            tasks
                .par_iter()
                .map(|&(m, chunk)| run(m, chunk, cols, gid, groups, repriced))
                .collect::<Vec<_>>()
        },
        || {
            if latency_values {
                Latency::Values(latency::values(&chunks, cols, gid, groups))
            } else {
                Latency::Stats(latency::stats(&chunks, cols, gid, groups))
            }
        },
    );
    let mut sums = Sums {
        calls: vec![0; groups],
        unpriced: vec![0; groups],
        cost: vec![0; groups],
        tokens: vec![vec![0; groups]; 8],
        repriced: repriced.map(|_| (vec![0; groups], vec![0; groups])),
        latency,
    };
    for p in partials {
        match p {
            Partial::Calls(calls, unpriced, cost) => {
                add(&mut sums.calls, &calls);
                add(&mut sums.unpriced, &unpriced);
                add(&mut sums.cost, &cost);
            }
            Partial::Tokens(b, t) => add(&mut sums.tokens[b], &t),
            Partial::Repriced(cost, unpriced) => {
                let (c, u) = sums
                    .repriced
                    .as_mut()
                    .expect("re-priced partials only when re-pricing");
                add(c, &cost);
                add(u, &unpriced);
            }
        }
    }
    Ok(sums)
}

fn add<T: Copy + std::ops::AddAssign>(into: &mut [T], from: &[T]) {
    for (a, &b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

fn run(
    m: Measure,
    chunk: &[RowRange],
    cols: &[Cols],
    gid: &[u32],
    groups: usize,
    repriced: Option<&[i64]>,
) -> Partial {
    match m {
        Measure::Calls => {
            let (mut calls, mut unpriced, mut cost) =
                (vec![0i64; groups], vec![0i64; groups], vec![0i128; groups]);
            for r in chunk {
                let ids = &gid[r.global..r.global + r.len()];
                let column = &cols[r.batch].cost;
                for (i, &g) in (r.start..r.end).zip(ids) {
                    let g = g as usize;
                    if g < groups {
                        calls[g] += 1;
                        match column.get(i) {
                            Some(c) => cost[g] += i128::from(c),
                            None => unpriced[g] += 1,
                        }
                    }
                }
            }
            Partial::Calls(calls, unpriced, cost)
        }
        Measure::Tokens(b) => {
            let mut sums = vec![0i64; groups];
            for r in chunk {
                let ids = &gid[r.global..r.global + r.len()];
                let column = &cols[r.batch].tokens[b];
                match column.as_i64() {
                    // A group id past the end is a filtered-out row: `get_mut` skips it.
                    Some(values) => {
                        for (&g, &v) in ids.iter().zip(&values[r.start..r.end]) {
                            if let Some(s) = sums.get_mut(g as usize) {
                                *s += v;
                            }
                        }
                    }
                    None => {
                        for (i, &g) in (r.start..r.end).zip(ids) {
                            if let Some(s) = sums.get_mut(g as usize) {
                                *s += column.raw(i);
                            }
                        }
                    }
                }
            }
            Partial::Tokens(b, sums)
        }
        Measure::Repriced => {
            let costs = repriced.expect("re-pricing task only with re-priced rows");
            let (mut cost, mut unpriced) = (vec![0i128; groups], vec![0i64; groups]);
            for r in chunk {
                let range = r.global..r.global + r.len();
                for (&g, &c) in gid[range.clone()].iter().zip(&costs[range]) {
                    if let Some(sum) = cost.get_mut(g as usize) {
                        if c == UNPRICED {
                            unpriced[g as usize] += 1;
                        } else {
                            *sum += i128::from(c);
                        }
                    }
                }
            }
            Partial::Repriced(cost, unpriced)
        }
    }
}
