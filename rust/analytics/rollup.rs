//! The rollup kernel: one pass over the rows, grouping by the mixed-radix combination of the
//! key codes, summing tokens and exact costs per group, re-pricing on the way when asked.

use std::sync::Arc;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::encode::{space, strides, Encoded, KeyValue, SlotMap};
use super::input::{FloatColumn, IntColumn, RowRange};
use super::latency::{self, LatencyLog};
use super::output::{self, Group};
use super::reprice::Repricer;
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
}

/// The per-row inputs of one batch.
struct Cols {
    at: IntColumn,
    tokens: Vec<IntColumn>,
    cost: IntColumn,
    latency: Option<FloatColumn>,
}

/// Per-row model and mode codes when re-pricing.
struct RateCodes<'a> {
    rates: &'a Rates,
    models: Arc<Encoded>,
    modes: Option<Arc<Encoded>>,
    n_modes: usize,
}

impl RateCodes<'_> {
    /// Re-priced cost of global row `g` (batch row `i`): `Ok(None)` when its model is unpriced.
    #[inline]
    fn cost(&self, g: usize, ts: i64, tokens: &[i64; 8]) -> Result<Option<i64>, Error> {
        let model = self.models.codes[g] as usize;
        let mode = self.modes.as_ref().map_or(0, |m| m.codes[g] as usize);
        let route = &self.rates.routes[model * self.n_modes + mode];
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

fn batch_cols(table: &Table, spec_time: &str) -> Result<Vec<Cols>, Error> {
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
        ts >= self.since && ts < self.until && self.codes.iter().all(|(e, c)| e.codes[g] == *c)
    }
}

/// Per-row costs under `rates` for every row of the ledger (`None`: unpriced).
pub fn reprice_rows(
    table: &Table,
    time_column: &str,
    rates: &Rates,
) -> Result<Vec<Option<i64>>, Error> {
    let cols = batch_cols(table, time_column)?;
    let codes = rate_codes(table, rates)?;
    let parts: Vec<Vec<Option<i64>>> = table
        .ledger()
        .ranges()
        .par_iter()
        .map(|r| {
            let c = &cols[r.batch];
            (r.start..r.end)
                .map(|i| codes.cost(r.global + i - r.start, c.at.raw(i), &tokens_at(c, i)))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(parts.concat())
}

#[inline]
fn tokens_at(c: &Cols, i: usize) -> [i64; 8] {
    std::array::from_fn(|b| c.tokens[b].raw(i))
}

/// Runs a rollup and returns its result as one record batch.
pub fn rollup(table: &Table, spec: &RollupSpec) -> Result<RecordBatch, Error> {
    let cols = batch_cols(table, &spec.time_column)?;
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
    let ranges = table.ledger().ranges();

    let (min_ts, max_ts) = if spec.keys.iter().any(|k| matches!(k, Key::Time(..))) {
        time_span(ranges, &cols, &filter)
    } else {
        (0, 0)
    };
    let sources = spec
        .keys
        .iter()
        .map(|k| match k {
            Key::Column(name) => table.encoded(name).map(Source::Codes),
            Key::Time(unit, _) => Ok(Source::Time(Buckets::new(*unit, spec.zone, min_ts, max_ts))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let strides = strides(sources.iter().map(Source::cardinality));
    let rate_codes = spec
        .rates
        .as_ref()
        .map(|r| rate_codes(table, r))
        .transpose()?;

    let space = space(sources.iter().map(Source::cardinality));
    let per_thread = ranges
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1);
    let partials = ranges
        .par_chunks(per_thread)
        .map(|chunk| {
            let mut part = Partial::new(space);
            for r in chunk {
                let c = &cols[r.batch];
                for i in r.start..r.end {
                    let g = r.global + i - r.start;
                    let ts = c.at.raw(i);
                    if !filter.keep(g, ts) {
                        continue;
                    }
                    let key: u128 = sources
                        .iter()
                        .zip(&strides)
                        .map(|(s, &st)| u128::from(s.code(g, ts)) * st)
                        .sum();
                    let tokens = tokens_at(c, i);
                    let repriced = match &rate_codes {
                        Some(rc) => Some(rc.cost(g, ts, &tokens)?),
                        None => None,
                    };
                    let slot = part.slot(key);
                    part.groups[slot as usize]
                        .1
                        .add(&tokens, c.cost.get(i), repriced);
                    if let Some(l) = c.latency.as_ref().and_then(|l| l.get(i)) {
                        part.latencies.push(slot, l);
                    }
                }
            }
            Ok::<_, Error>(part)
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Merge the workers' groups; each worker's local slots map to global ones.
    let mut merged = Partial::new(space);
    let mut remaps = Vec::with_capacity(partials.len());
    let mut logs = Vec::with_capacity(partials.len());
    for part in partials {
        let remap: Vec<u32> = part
            .groups
            .iter()
            .map(|(key, g)| {
                let slot = merged.slot(*key);
                merged.groups[slot as usize].1.merge(g);
                slot
            })
            .collect();
        remaps.push(remap);
        logs.push(part.latencies);
    }
    let stats = latency::stats(logs, &remaps, merged.groups.len());

    // Output in key order: by code, that is by first appearance in the ledger.
    let mut order: Vec<u32> = (0..merged.groups.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| merged.groups[i as usize].0);
    let keys: Vec<u128> = order.iter().map(|&i| merged.groups[i as usize].0).collect();
    let key_values: Vec<output::KeyOut> = spec
        .keys
        .iter()
        .zip(&sources)
        .zip(&strides)
        .map(|((key, source), &stride)| {
            let codes = keys
                .iter()
                .map(|k| ((k / stride) % source.cardinality() as u128) as u32);
            match (key, source) {
                (Key::Column(name), Source::Codes(e)) => {
                    output::KeyOut::values(name, codes.map(|c| &e.values[c as usize]))
                }
                (Key::Time(_, name), Source::Time(b)) => {
                    output::KeyOut::time(name, &spec.zone, codes.map(|c| b.starts[c as usize]))
                }
                _ => unreachable!("key and source are built together"),
            }
        })
        .collect();
    let groups = order
        .iter()
        .map(|&i| merged.groups[i as usize].1.clone())
        .collect();
    let stats = order.iter().map(|&i| stats[i as usize]).collect();
    output::batch(key_values, groups, stats, spec.rates.is_some())
}

/// Where a key's code comes from.
enum Source {
    Codes(Arc<Encoded>),
    Time(Buckets),
}

impl Source {
    fn cardinality(&self) -> usize {
        match self {
            Source::Codes(e) => e.cardinality(),
            Source::Time(b) => b.starts.len(),
        }
    }

    #[inline]
    fn code(&self, g: usize, ts: i64) -> u32 {
        match self {
            Source::Codes(e) => e.codes[g],
            Source::Time(b) => b.index(ts),
        }
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

/// Groups accumulated by one worker.
struct Partial {
    index: SlotMap,
    groups: Vec<(u128, Group)>,
    latencies: LatencyLog,
}

impl Partial {
    fn new(space: u128) -> Self {
        Partial {
            index: SlotMap::new(space),
            groups: Vec::new(),
            latencies: LatencyLog::default(),
        }
    }

    /// The slot of group `key`, created empty on first sight.
    #[inline]
    fn slot(&mut self, key: u128) -> u32 {
        let next = self.groups.len() as u32;
        let slot = self.index.slot(key, next);
        if slot == next {
            self.groups.push((key, Group::default()));
        }
        slot
    }
}
