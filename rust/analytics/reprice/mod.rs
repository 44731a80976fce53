//! Bulk re-pricing: every row's cost under a catalog, as `Catalog::price` would give it.
//!
//! A catalog is compiled once for the (model, mode) pairs a ledger uses ([`Repricer`]);
//! [`Rates`] say which rows use which pair. Each row range then prices its rows through a
//! per-day table of segments ([`days`]), the full look-up only where a price changes within
//! a day.

mod days;
mod repricer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use self::days::{DayTable, SLOW, UNPRICED_DAY};
pub use self::repricer::Repricer;
pub(crate) use self::repricer::US_PER_DAY;
use super::encode::Encoded;
use super::input::{runs, split_mut, Cols, Ledger, RowRange};
use super::pages;
use crate::Error;

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
    /// `routes[model_code * modes + mode_code]`. Codes are those of
    /// [`Table::encoded_tuple`](super::Table::encoded_tuple) for `model_key` and
    /// [`Table::encoded`](super::Table::encoded) for `mode_key` (a single code 0 without one).
    pub routes: Vec<Route>,
    /// Identifies these tables in a [`Table`](super::Table)'s cache of re-priced rows (see [`next_id`]).
    pub id: u64,
}

/// A fresh id for [`Rates::id`].
pub fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A row's re-priced cost when its model has no price.
pub const UNPRICED: i64 = i64::MIN;

/// Per-row model and mode codes when re-pricing.
pub(super) struct RateCodes<'a> {
    pub(super) rates: &'a Rates,
    models: Arc<Encoded>,
    modes: Option<Arc<Encoded>>,
    n_modes: usize,
}

impl RateCodes<'_> {
    /// The index in `rates.routes` of global row `g`'s route.
    #[inline]
    pub(super) fn route(&self, g: usize) -> usize {
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

/// Checks that `rates` has a route for every (model, mode) code pair of the ledger.
fn rate_codes(
    rates: &Rates,
    models: Arc<Encoded>,
    modes: Option<Arc<Encoded>>,
) -> Result<RateCodes<'_>, Error> {
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

/// Per-row costs under `rates` for every row of `ledger`, [`UNPRICED`] where the row's
/// model has no price (a cost is never that negative). `models` and `modes` are the rows'
/// codes of `rates.model_key` and `rates.mode_key`.
pub(crate) fn reprice_all(
    ledger: &Ledger,
    time_column: &str,
    rates: &Rates,
    models: Arc<Encoded>,
    modes: Option<Arc<Encoded>>,
) -> Result<Vec<i64>, Error> {
    let cols = ledger.cols(time_column)?;
    let codes = rate_codes(rates, models, modes)?;
    let runs = runs(ledger.ranges());
    let mut out = pages::zeroed::<i64>(ledger.rows());
    let lens = runs.iter().map(|run| run.iter().map(RowRange::len).sum());
    split_mut(&mut out, lens)
        .into_par_iter()
        .zip(runs)
        .try_for_each(|(out, run)| {
            let days = DayTable::new(&codes, run, &cols);
            for (out, r) in split_mut(out, run.iter().map(RowRange::len))
                .into_iter()
                .zip(run)
            {
                let c = &cols[r.batch];
                let at = c.at.as_i64();
                let tokens: Option<Vec<&[i64]>> = c.tokens.iter().map(|t| t.as_i64()).collect();
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
            }
            Ok::<_, Error>(())
        })?;
    Ok(out)
}

#[inline]
fn tokens_at(c: &Cols, i: usize) -> [i64; 8] {
    std::array::from_fn(|b| c.tokens[b].raw(i))
}
