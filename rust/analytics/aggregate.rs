//! Aggregation by dense group id.
//!
//! With a hundred thousand groups and more, per-group totals do not fit in a core's cache and
//! every update is a random access; what costs is how many cache lines a row touches. The
//! calls and money of a group (five totals, always updated together) share one 64-byte record,
//! so a row touches one line for all of them. The token buckets are summed a column at a time
//! instead, each into an array of its own: most rows have zeros in most buckets, and a zero
//! is skipped without touching the sums, which a record of all eight could not do. Tasks
//! (record or bucket, by row span) run on rayon's pool; spans are added at the end.

use rayon::prelude::*;

use super::codes::Code;
use super::input::{Cols, RowRange};
use super::latency;
use super::pages;
use super::reprice::UNPRICED;
use crate::Error;

/// One group's calls and money, and where its rows start.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct Counts {
    /// Rows.
    pub calls: i64,
    /// Rows whose recorded cost is null.
    pub unpriced: i64,
    /// Recorded cost, pico-USD.
    pub cost: i128,
    /// Re-priced cost, pico-USD, when re-pricing.
    pub repriced: i128,
    /// Rows re-pricing left unpriced.
    pub repriced_unpriced: i64,
    /// The group's first row in the ledger (its global index), when it has rows.
    pub first: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        if o.calls > 0 && (self.calls == 0 || o.first < self.first) {
            self.first = o.first;
        }
        self.calls += o.calls;
        self.unpriced += o.unpriced;
        self.cost += o.cost;
        self.repriced += o.repriced;
        self.repriced_unpriced += o.repriced_unpriced;
    }
}

/// Per-group totals, indexed by group id.
#[derive(Debug, Clone)]
pub struct Sums {
    /// Calls and money.
    pub counts: Vec<Counts>,
    /// Token sums per bucket.
    pub tokens: Vec<Vec<i64>>,
    /// Whether `Counts::repriced` and `repriced_unpriced` were computed.
    pub repriced: bool,
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
    /// Sum, count and max per group: for results merged later that need no percentiles
    /// (`latency="mean"`), in one pass with no latency kept per row.
    Sums(latency::Sums),
}

/// Which of [`Latency`]'s forms a rollup returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyOut {
    /// [`Latency::Stats`].
    #[default]
    Stats,
    /// [`Latency::Values`].
    Values,
    /// [`Latency::Sums`].
    Sums,
}

/// Totals (the records and the eight buckets' sums) small enough to copy per thread: the size
/// of a core's level-2 cache on the machines measured.
const SPAN_COPY_BYTES: usize = 2 << 20;

/// One unit of work: a record or a bucket, over a contiguous run of row ranges.
#[derive(Clone, Copy)]
enum Measure {
    Counts,
    Tokens(usize),
}

enum Partial {
    Counts(Vec<Counts>),
    Tokens(usize, Vec<i64>),
}

/// Sums the rows of `ranges` whose group id (`gid`, by global row) is below `groups`.
pub fn aggregate<T: Code>(
    ranges: &[RowRange],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
    repriced: Option<&[i64]>,
    latency_out: LatencyOut,
) -> Result<Sums, Error> {
    // Row spans per measure: one per thread while a copy of the totals fits a core's cache,
    // else one in all. The nine measures are tasks enough for the cores, and past the cache
    // a row misses whatever the span: copies would only add memory and a merge (at 10M rows,
    // (feature, tenant) with one span is as fast or faster, with 55 MB less).
    let threads = rayon::current_num_threads().max(1);
    let copy_bytes = groups * (std::mem::size_of::<Counts>() + 8 * std::mem::size_of::<i64>());
    let spans = if copy_bytes > SPAN_COPY_BYTES {
        1
    } else {
        threads
    };
    let chunks_of = |spans: usize| -> Vec<&[RowRange]> {
        ranges.chunks(ranges.len().div_ceil(spans).max(1)).collect()
    };
    let chunks = chunks_of(spans);
    // The latency sort's state per span is a count and a cursor per group, small next to the
    // records: always a span per thread, so the sort runs on every core.
    let latency_chunks = chunks_of(threads);
    let mut measures = vec![Measure::Counts];
    measures.extend((0..8).map(Measure::Tokens));
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
        || match latency_out {
            LatencyOut::Stats => Latency::Stats(latency::stats(&latency_chunks, cols, gid, groups)),
            LatencyOut::Values => {
                Latency::Values(latency::values(&latency_chunks, cols, gid, groups))
            }
            LatencyOut::Sums => Latency::Sums(latency::sums(&latency_chunks, cols, gid, groups)),
        },
    );
    // Each measure's first span takes the others' totals: no fresh arrays (tens of MB with
    // hundreds of thousands of groups) while the spans' are still held. A ledger without rows
    // has no spans.
    let mut counts: Option<Vec<Counts>> = None;
    let mut tokens: Vec<Option<Vec<i64>>> = vec![None; 8];
    for p in partials {
        match p {
            Partial::Counts(c) => match &mut counts {
                None => counts = Some(c),
                Some(sum) => {
                    for (a, b) in sum.iter_mut().zip(&c) {
                        a.add(b);
                    }
                }
            },
            Partial::Tokens(b, t) => match &mut tokens[b] {
                None => tokens[b] = Some(t),
                Some(sum) => {
                    for (a, &v) in sum.iter_mut().zip(&t) {
                        *a += v;
                    }
                }
            },
        }
    }
    Ok(Sums {
        counts: counts.unwrap_or_else(|| vec![Counts::default(); groups]),
        tokens: tokens
            .into_iter()
            .map(|t| t.unwrap_or_else(|| vec![0; groups]))
            .collect(),
        repriced: repriced.is_some(),
        latency,
    })
}

fn run<T: Code>(
    m: Measure,
    chunk: &[RowRange],
    cols: &[Cols],
    gid: &[T],
    groups: usize,
    repriced: Option<&[i64]>,
) -> Partial {
    match m {
        Measure::Counts => {
            let mut acc = pages::filled(groups, Counts::default());
            for r in chunk {
                let ids = &gid[r.global..r.global + r.len()];
                let cost = &cols[r.batch].cost;
                // A group id past the end is a filtered-out row: `get_mut` skips it.
                match repriced {
                    Some(costs) => {
                        let costs = &costs[r.global..r.global + r.len()];
                        for (j, ((i, &g), &c)) in (r.start..r.end).zip(ids).zip(costs).enumerate() {
                            prefetch_ahead(&acc, ids, j);
                            if let Some(a) = acc.get_mut(g.index()) {
                                if a.calls == 0 {
                                    a.first = (r.global + i - r.start) as u64;
                                }
                                a.calls += 1;
                                match cost.get(i) {
                                    Some(v) => a.cost += i128::from(v),
                                    None => a.unpriced += 1,
                                }
                                if c == UNPRICED {
                                    a.repriced_unpriced += 1;
                                } else {
                                    a.repriced += i128::from(c);
                                }
                            }
                        }
                    }
                    None => {
                        for (j, (i, &g)) in (r.start..r.end).zip(ids).enumerate() {
                            prefetch_ahead(&acc, ids, j);
                            if let Some(a) = acc.get_mut(g.index()) {
                                if a.calls == 0 {
                                    a.first = (r.global + i - r.start) as u64;
                                }
                                a.calls += 1;
                                match cost.get(i) {
                                    Some(v) => a.cost += i128::from(v),
                                    None => a.unpriced += 1,
                                }
                            }
                        }
                    }
                }
            }
            Partial::Counts(acc)
        }
        Measure::Tokens(b) => {
            let mut sums = pages::filled(groups, 0i64);
            for r in chunk {
                let ids = &gid[r.global..r.global + r.len()];
                let column = &cols[r.batch].tokens[b];
                match column.as_i64() {
                    Some(values) => {
                        for (&g, &v) in ids.iter().zip(&values[r.start..r.end]) {
                            if v != 0 {
                                if let Some(s) = sums.get_mut(g.index()) {
                                    *s += v;
                                }
                            }
                        }
                    }
                    None => {
                        for (i, &g) in (r.start..r.end).zip(ids) {
                            if let Some(s) = sums.get_mut(g.index()) {
                                *s += column.raw(i);
                            }
                        }
                    }
                }
            }
            Partial::Tokens(b, sums)
        }
    }
}

/// Rows ahead whose record [`prefetch_ahead`] asks for: far enough for a miss to be served
/// before the row comes (at 10M rows, 16 was short of 32 and 64, and 128 no better).
const PREFETCH_ROWS: usize = 32;

/// Asks for the record of the row [`PREFETCH_ROWS`] after row `j` of `ids`. With hundreds of
/// thousands of groups the records miss the cache, and the core's out-of-order window holds
/// only a few rows' work, so only a few misses overlap; a request this far ahead overlaps many
/// more, for a few instructions a row. At 10M rows, (feature, tenant):
/// 303 / 317 ms (min / median of 9) against 356 / 408 without; (day, model), whose groups
/// stay in the cache, unchanged. The token sums are not prefetched: their arrays are an
/// eighth of the records' size, and a prefetch there measured no faster. A no-op on targets
/// without a stable prefetch instruction.
#[inline(always)]
fn prefetch_ahead<T: Code>(records: &[Counts], ids: &[T], j: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(&g) = ids.get(j + PREFETCH_ROWS) {
        // Past the end for a filtered-out row; a prefetch of any address is harmless.
        let p = records.as_ptr().wrapping_add(g.index());
        // SAFETY: a prefetch reads nothing into the program and cannot fault; SSE is part
        // of x86-64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (records, ids, j);
}
