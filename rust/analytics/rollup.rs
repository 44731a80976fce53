//! The rollup kernel: rows grouped by the dense code of their key tuple (dictionary codes
//! combined), then every measure summed per group (`aggregate`), re-pricing on the way when
//! asked, latency statistics by a counting sort (`latency`).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::aggregate;
use super::codes::{with_codes, Code, Codes};
use super::encode::{self, Encoded, KeyValue, Keys};
use super::input::{split_mut, FloatColumn, IntColumn, RowRange};
use super::output;
use super::pages;
use super::reprice::{Repricer, US_PER_DAY};
use super::timebucket::{Buckets, Unit, Zone};
use super::Table;
use crate::pricing::BUCKETS;
use crate::Error;

/// A group key.
#[derive(Debug, Clone)]
pub enum Key {
    /// A column of the ledger, by name.
    Column(String),
    /// A time bucket of the time column, named `name` in the output.
    Time(Unit, String),
}

/// How one (model, mode) code pair is priced: by `main` from `from_us` on, by `before`
/// earlier (a user override that starts on a date, with the catalog's price before it).
/// `None` leaves the row unpriced.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// First instant `main` applies; `i64::MIN` for always.
    pub from_us: i64,
    /// Repricer pair and discount (ppm) from `from_us` on.
    pub main: Option<(u32, u32)>,
    /// Repricer pair and discount (ppm) before `from_us`.
    pub before: Option<(u32, u32)>,
}

/// How to re-price rows: which rows use which compiled (model, mode) pair.
#[derive(Debug, Clone)]
pub struct Rates {
    /// The compiled pairs.
    pub repricer: Repricer,
    /// Columns whose value tuple identifies a row's model (e.g. provider and model).
    pub model_key: Vec<String>,
    /// The pricing-mode column, if any.
    pub mode_key: Option<String>,
    /// `routes[model_code * modes + mode_code]`. Codes are those of [`Table::encoded_tuple`]
    /// for `model_key` and [`Table::encoded`] for `mode_key` (a single code 0 without one).
    pub routes: Vec<Route>,
    /// Identifies these tables in a [`Table`]'s cache of re-priced rows (see [`next_id`]).
    pub id: u64,
}

/// A fresh id for [`Rates::id`].
pub fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A row's re-priced cost when its model has no price.
pub const UNPRICED: i64 = i64::MIN;

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
    /// Return each group's latencies (`latency_ms_values`) instead of their statistics.
    pub latency_values: bool,
}

/// The per-row inputs of one batch.
pub(crate) struct Cols {
    pub(crate) at: IntColumn,
    pub(crate) tokens: Vec<IntColumn>,
    pub(crate) cost: IntColumn,
    pub(crate) latency: Option<FloatColumn>,
}

/// Per-row model and mode codes when re-pricing.
struct RateCodes<'a> {
    rates: &'a Rates,
    models: Arc<Encoded>,
    modes: Option<Arc<Encoded>>,
    n_modes: usize,
}

impl RateCodes<'_> {
    /// The index in `rates.routes` of global row `g`'s route.
    #[inline]
    fn route(&self, g: usize) -> usize {
        let model = self.models.codes.get(g) as usize;
        let mode = self.modes.as_ref().map_or(0, |m| m.codes.get(g) as usize);
        model * self.n_modes + mode
    }

    /// Re-priced cost of global row `g` (batch row `i`): `Ok(None)` when its model is unpriced.
    #[inline]
    fn cost(&self, g: usize, ts: i64, tokens: &[i64; 8]) -> Result<Option<i64>, Error> {
        let route = &self.rates.routes[self.route(g)];
        match if ts >= route.from_us {
            route.main
        } else {
            route.before
        } {
            Some((pair, ppm)) => self.rates.repricer.cost(pair, ts, tokens, ppm).map(Some),
            None => Ok(None),
        }
    }
}

fn rate_codes<'a>(table: &Table, rates: &'a Rates) -> Result<RateCodes<'a>, Error> {
    let models = table.encoded_tuple(&rates.model_key)?;
    let modes = rates
        .mode_key
        .as_deref()
        .map(|m| table.encoded(m))
        .transpose()?;
    let n_modes = modes.as_ref().map_or(1, |m| m.cardinality());
    if rates.routes.len() != models.cardinality() * n_modes {
        return Err(Error::Argument(
            "rate tables do not match the ledger's model and mode codes".into(),
        ));
    }
    Ok(RateCodes {
        rates,
        models,
        modes,
        n_modes,
    })
}

pub(super) fn batch_cols(table: &Table, spec_time: &str) -> Result<Vec<Cols>, Error> {
    let ledger = table.ledger();
    let at = ledger.ints(spec_time)?;
    let tokens: Vec<Vec<IntColumn>> = BUCKETS
        .iter()
        .map(|b| ledger.ints(b))
        .collect::<Result<_, _>>()?;
    let cost = ledger.ints("cost")?;
    let latency = if ledger.has_column("latency_ms") {
        Some(ledger.floats("latency_ms")?)
    } else {
        None
    };
    Ok((0..at.len())
        .map(|b| Cols {
            at: at[b].clone(),
            tokens: tokens.iter().map(|t| t[b].clone()).collect(),
            cost: cost[b].clone(),
            latency: latency.as_ref().map(|l| l[b].clone()),
        })
        .collect())
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

/// Per-row costs under `rates` for every row of the ledger, [`UNPRICED`] where the row's
/// model has no price (a cost is never that negative).
pub(crate) fn reprice_all(
    table: &Table,
    time_column: &str,
    rates: &Rates,
) -> Result<Vec<i64>, Error> {
    let cols = batch_cols(table, time_column)?;
    let codes = rate_codes(table, rates)?;
    let ranges = table.ledger().ranges();
    let mut out = pages::zeroed::<i64>(table.ledger().rows());
    split_mut(&mut out, ranges.iter().map(RowRange::len))
        .into_par_iter()
        .zip(ranges)
        .try_for_each(|(out, r)| {
            let c = &cols[r.batch];
            let at = c.at.as_i64();
            let tokens: Option<Vec<&[i64]>> = c.tokens.iter().map(|t| t.as_i64()).collect();
            let days = DayTable::new(&codes, r, &c.at);
            for (k, o) in out.iter_mut().enumerate() {
                let i = r.start + k;
                // Slices when the columns are Int64, as they come from `calls()` and SQL.
                let (ts, row) = match (at, &tokens) {
                    (Some(at), Some(t)) => (at[i], std::array::from_fn(|b| t[b][i])),
                    _ => (c.at.raw(i), tokens_at(c, i)),
                };
                let g = r.global + k;
                match days.as_ref().map_or(SLOW, |d| d.entry(codes.route(g), ts)) {
                    UNPRICED_DAY => *o = UNPRICED,
                    SLOW => *o = codes.cost(g, ts, &row)?.unwrap_or(UNPRICED),
                    segment => *o = codes.rates.repricer.segment_cost(segment, &row, 0)?,
                }
            }
            Ok::<_, Error>(())
        })?;
    Ok(out)
}

/// A [`DayTable`] entry: the route leaves the row unpriced all day.
const UNPRICED_DAY: u32 = u32::MAX;
/// A [`DayTable`] entry: the route's price changes within the day, or carries a discount;
/// the row takes the full look-up.
const SLOW: u32 = u32::MAX - 1;

/// Most entries a [`DayTable`] is built with (a quarter of a MiB).
const DAY_TABLE_ENTRIES: usize = 1 << 16;

/// Each route's segment on each UTC day that one row range spans, so that a row's price is
/// one look-up in a small table instead of a route, a pair and a binary search in turn (a
/// chain of dependent reads, most of the time re-pricing took). A ledger is kept in time
/// order, so a range spans a day or two; one that spans too many gets no table.
struct DayTable {
    first_day: i64,
    routes: usize,
    /// Segment (or [`UNPRICED_DAY`] or [`SLOW`]) of route `r` on day `first_day + d` at
    /// `d * routes + r`.
    entries: Vec<u32>,
}

impl DayTable {
    fn new(codes: &RateCodes, r: &RowRange, at: &IntColumn) -> Option<DayTable> {
        let (lo, hi) = (r.start..r.end)
            .map(|i| at.raw(i))
            .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let (first_day, last_day) = (lo.div_euclid(US_PER_DAY), hi.div_euclid(US_PER_DAY));
        let routes = &codes.rates.routes;
        let days = (last_day - first_day + 1) as usize; // a range holds rows: lo <= hi
        if days * routes.len() > DAY_TABLE_ENTRIES {
            return None;
        }
        let mut entries = Vec::with_capacity(days * routes.len());
        for day in first_day..=last_day {
            // Saturating: the first and last days of i64 microseconds are cut short.
            let (start, end) = (
                day.saturating_mul(US_PER_DAY),
                (day + 1).saturating_mul(US_PER_DAY),
            );
            entries.extend(routes.iter().map(|route| {
                let rate = if start >= route.from_us {
                    route.main
                } else if end <= route.from_us {
                    route.before
                } else {
                    return SLOW; // the route switches during the day
                };
                match rate {
                    None => UNPRICED_DAY,
                    Some((pair, 0)) => codes.rates.repricer.day_segment(pair, day).unwrap_or(SLOW),
                    Some(_) => SLOW,
                }
            }));
        }
        Some(DayTable {
            first_day,
            routes: routes.len(),
            entries,
        })
    }

    #[inline]
    fn entry(&self, route: usize, ts: i64) -> u32 {
        let day = (ts.div_euclid(US_PER_DAY) - self.first_day) as usize;
        self.entries[day * self.routes + route]
    }
}

/// Per-row costs under `rates` for every row of the ledger (`None`: unpriced).
pub fn reprice_rows(
    table: &Table,
    time_column: &str,
    rates: &Rates,
) -> Result<Vec<Option<i64>>, Error> {
    let costs = table.repriced(time_column, rates)?;
    Ok(costs
        .iter()
        .map(|&c| (c != UNPRICED).then_some(c))
        .collect())
}

#[inline]
fn tokens_at(c: &Cols, i: usize) -> [i64; 8] {
    std::array::from_fn(|b| c.tokens[b].raw(i))
}

/// Runs a rollup and returns its result as one record batch.
pub fn rollup(table: &Table, spec: &RollupSpec) -> Result<RecordBatch, Error> {
    let cols = batch_cols(table, &spec.time_column)?;
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
        spec.latency_values,
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
