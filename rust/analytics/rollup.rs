//! The rollup kernel: rows grouped by the dense code of their key tuple (dictionary codes
//! combined), then every measure summed per group (`aggregate`), re-pricing on the way when
//! asked, latency statistics by a counting sort (`latency`).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::aggregate::{self, LatencyOut};
use super::codes::{with_codes, Code, Codes};
use super::encode::{self, Encoded, KeyValue, Keys};
use super::input::{split_mut, Cols, RowRange};
use super::output;
use super::reprice::Rates;
use super::timebucket::{Buckets, Unit, Zone};
use super::Table;
use crate::Error;

/// A group key.
#[derive(Debug, Clone)]
pub enum Key {
    /// A column of the ledger, by name.
    Column(String),
    /// A time bucket of the time column, named `name` in the output.
    Time(Unit, String),
}

/// What to roll up.
#[derive(Debug, Clone)]
pub struct RollupSpec {
    /// Group keys, in output order.
    pub keys: Vec<Key>,
    /// The time column (µs since the epoch, UTC).
    pub time_column: String,
    /// Time zone of the time buckets.
    pub zone: Zone,
    /// Only rows at or after this instant.
    pub since_us: Option<i64>,
    /// Only rows before this instant.
    pub until_us: Option<i64>,
    /// Only rows whose column equals the value.
    pub filters: Vec<(String, KeyValue)>,
    /// Re-price the rows, when given.
    pub rates: Option<Rates>,
    /// The latency statistics, each group's latencies (`latency_ms_values`), or their sums
    /// (`latency_ms_sum`, `latency_calls`, `latency_ms_max`).
    pub latency: LatencyOut,
}

/// Row filter: time window and equality filters on encoded columns.
struct Filter {
    since: i64,
    until: i64,
    codes: Vec<(Arc<Encoded>, u32)>,
}

impl Filter {
    #[inline]
    fn keep(&self, g: usize, ts: i64) -> bool {
        ts >= self.since && ts < self.until && self.codes.iter().all(|(e, c)| e.codes.get(g) == *c)
    }
}

/// Runs a rollup and returns its result as one record batch.
pub fn rollup(table: &Table, spec: &RollupSpec) -> Result<RecordBatch, Error> {
    let cols = table.ledger().cols(&spec.time_column)?;
    let ledger = table.ledger();
    let ranges = ledger.ranges();
    let mut filter = Filter {
        since: spec.since_us.unwrap_or(i64::MIN),
        until: spec.until_us.unwrap_or(i64::MAX),
        codes: Vec::new(),
    };
    for (name, value) in &spec.filters {
        let e = table.encoded(name)?;
        // A value no row holds: keep nothing (an empty window does that).
        let code = e.code_of(value).unwrap_or_else(|| {
            filter.until = i64::MIN;
            0
        });
        filter.codes.push((e, code));
    }
    let filtered = spec.since_us.is_some() || spec.until_us.is_some() || !filter.codes.is_empty();

    // Group ids: the dense code of each row's key tuple, cached per column set when no time
    // bucket is involved (a bucket depends on the zone and the rows' span).
    let has_time = spec.keys.iter().any(|k| matches!(k, Key::Time(..)));
    let (min_ts, max_ts) = match has_time.then(|| time_span(ranges, &cols, &filter)) {
        Some((lo, hi)) if lo <= hi => (lo, hi),
        // No row kept: one bucket for the codes of the dropped rows.
        _ => (0, 0),
    };
    let mut parts = Vec::with_capacity(spec.keys.len());
    for key in &spec.keys {
        parts.push(match key {
            Key::Column(name) => table.encoded(name)?,
            Key::Time(unit, _) => Arc::new(time_codes(
                ranges,
                &cols,
                Buckets::new(*unit, spec.zone, min_ts, max_ts),
            )),
        });
    }
    let groups: Arc<Encoded> = match (parts.len(), has_time) {
        (0, _) => Arc::new(Encoded {
            codes: Codes::zeroed(1, ledger.rows()),
            keys: Keys::Values(vec![KeyValue::Tuple(Vec::new())]),
        }),
        (1, _) => Arc::clone(&parts[0]),
        (_, false) => table.encoded_tuple(
            &spec
                .keys
                .iter()
                .map(|k| match k {
                    Key::Column(name) => name.clone(),
                    Key::Time(..) => unreachable!("no time key here"),
                })
                .collect::<Vec<_>>(),
        )?,
        // Not cached (a bucket depends on the zone and the rows' span), so a dictionary of
        // the combinations would be built on every call; the time buckets are the most
        // significant digits (see `encode::radix`).
        (_, true)
            if encode::radix_fits(
                encode::space(parts.iter().map(|p| p.cardinality())),
                ledger.rows(),
            ) =>
        {
            let is_time = |k: &usize| matches!(spec.keys[*k], Key::Time(..));
            let significance: Vec<usize> = (0..parts.len())
                .filter(is_time)
                .chain((0..parts.len()).filter(|k| !is_time(k)))
                .collect();
            Arc::new(encode::radix(&parts, &significance, ledger.rows()))
        }
        (_, true) => Arc::new(encode::combine(&parts, ledger.rows())),
    };
    let n = groups.cardinality();
    let gid: Cow<Codes> = if filtered {
        let mut gid = Codes::zeroed(n, ledger.rows());
        with_codes!(&mut gid, out => kept_codes(out, ranges, &cols, &filter, &groups.codes));
        Cow::Owned(gid)
    } else {
        Cow::Borrowed(&groups.codes)
    };

    let repriced = spec
        .rates
        .as_ref()
        .map(|r| table.repriced(&spec.time_column, r))
        .transpose()?;
    let repriced = repriced.as_deref().map(Vec::as_slice);
    let sums = with_codes!(gid.as_ref(), gid => aggregate::aggregate(
        ranges,
        &cols,
        gid,
        n,
        repriced,
        spec.latency,
    ))?;

    // Groups with rows, in the order of their first row kept. Codes are not that order:
    // dictionary codes follow the whole ledger (filters drop rows), radix codes and time
    // buckets follow their values.
    let mut order: Vec<usize> = (0..n).filter(|&g| sums.counts[g].calls > 0).collect();
    order.sort_unstable_by_key(|&g| sums.counts[g].first);
    let value = |g: usize, k: usize| groups.value(g, k);
    let key_values: Vec<output::KeyOut> = spec
        .keys
        .par_iter()
        .enumerate()
        .map(|(k, key)| match key {
            Key::Column(name) => output::KeyOut::values(name, order.iter().map(|&g| value(g, k))),
            Key::Time(_, name) => output::KeyOut::time(
                name,
                &spec.zone,
                order.iter().map(|&g| match value(g, k) {
                    KeyValue::Int(start) => *start,
                    other => unreachable!("time keys are instants, not {other:?}"),
                }),
            ),
        })
        .collect();
    output::batch(key_values, &sums, &order)
}

/// Each row's group code where `filter` keeps the row, [`Code::NONE`] where not. `out`'s width
/// is sized for as many keys as `codes` has.
fn kept_codes<T: Code>(
    out: &mut [T],
    ranges: &[RowRange],
    cols: &[Cols],
    filter: &Filter,
    codes: &Codes,
) {
    let slices = split_mut(out, ranges.iter().map(RowRange::len));
    slices.into_par_iter().zip(ranges).for_each(|(out, r)| {
        let c = &cols[r.batch];
        for (k, o) in out.iter_mut().enumerate() {
            let g = r.global + k;
            *o = if filter.keep(g, c.at.raw(r.start + k)) {
                T::from_u32(codes.get(g))
            } else {
                T::NONE
            };
        }
    });
}

/// The bucket of every row as an encoded column (values: bucket starts, µs).
fn time_codes(ranges: &[RowRange], cols: &[Cols], buckets: Buckets) -> Encoded {
    let rows = ranges.iter().map(RowRange::len).sum();
    let mut codes = Codes::zeroed(buckets.starts.len(), rows);
    with_codes!(&mut codes, out => bucket_codes(out, ranges, cols, &buckets));
    let values = buckets.starts.iter().map(|&s| KeyValue::Int(s)).collect();
    Encoded {
        codes,
        keys: Keys::Values(values),
    }
}

/// Earliest and latest instant among kept rows.
fn time_span(ranges: &[RowRange], cols: &[Cols], filter: &Filter) -> (i64, i64) {
    ranges
        .par_iter()
        .map(|r| {
            let c = &cols[r.batch];
            (r.start..r.end)
                .filter_map(|i| {
                    let ts = c.at.raw(i);
                    filter.keep(r.global + i - r.start, ts).then_some(ts)
                })
                .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)))
        })
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// Each row's bucket (its index in `buckets.starts`).
fn bucket_codes<T: Code>(out: &mut [T], ranges: &[RowRange], cols: &[Cols], buckets: &Buckets) {
    split_mut(out, ranges.iter().map(RowRange::len))
        .into_par_iter()
        .zip(ranges)
        .for_each(|(out, r)| {
            let at = &cols[r.batch].at;
            for (o, i) in out.iter_mut().zip(r.start..r.end) {
                *o = T::from_u32(buckets.index(at.raw(i)));
            }
        });
}
