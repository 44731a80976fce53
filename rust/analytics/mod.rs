//! Analytics kernels over an in-memory ledger: bulk re-pricing and rollups.
//!
//! Arrow in, Arrow out. The ledger is a set of record batches with the columns of
//! `llmledger_calls` as the Python layer hands them over: `at_us` (Int64 or Timestamp(us)),
//! the eight token buckets (Int64), `cost` (Int64 pico-USD or Decimal128(_, 12) USD,
//! nullable), `latency_ms` (Float64, nullable), plus any key columns (strings in any Arrow
//! layout, or integers). Key columns are dictionary-encoded once per [`Table`] and reused by
//! every kernel run on it, so a rollup is one pass over integer codes. Work is split into row
//! ranges run on rayon's pool and merged.
//!
//! The modules, from the bottom up: `input` (the batches, their row ranges and numeric
//! columns; `chunks` assembles batches from columns chunked apart), `pages` and `codes` (large arrays, narrow codes), `encode` (key columns to
//! codes), `reprice` (each row's cost under a catalog), `aggregate` and `latency` (sums and
//! statistics per group), `output` (the result batch) and `rollup`, which drives them.

mod aggregate;
mod chunks;
mod codes;
mod encode;
mod input;
mod latency;
mod output;
mod pages;
mod reprice;
mod rollup;
mod timebucket;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use aggregate::LatencyOut;
pub use chunks::from_columns;
pub use encode::{Encoded, KeyValue, Keys};
pub use input::Ledger;
pub use output::latency_stats;
pub use reprice::{next_id, Rates, Repricer, Route, UNPRICED};
pub use rollup::{rollup, Key, RollupSpec};
pub use timebucket::{Unit, Zone};

use crate::Error;

/// A ledger with its key columns encoded on first use.
#[derive(Debug)]
pub struct Table {
    ledger: Ledger,
    encoded: Mutex<HashMap<Vec<String>, Arc<Encoded>>>,
    repriced: Mutex<HashMap<(u64, String), RowCosts>>,
}

/// Every row's re-priced cost, pico-USD ([`UNPRICED`] where none).
type RowCosts = Arc<Vec<i64>>;

impl Table {
    /// Wraps a ledger.
    pub fn new(ledger: Ledger) -> Self {
        Table {
            ledger,
            encoded: Mutex::default(),
            repriced: Mutex::default(),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Every row's cost under `rates` ([`UNPRICED`] where none), computed once per rates.
    pub fn repriced(&self, time_column: &str, rates: &Rates) -> Result<RowCosts, Error> {
        let key = (rates.id, time_column.to_owned());
        if let Some(c) = self.repriced.lock().expect("re-pricing cache").get(&key) {
            return Ok(Arc::clone(c));
        }
        let models = self.encoded_tuple(&rates.model_key)?;
        let modes = rates
            .mode_key
            .as_deref()
            .map(|m| self.encoded(m))
            .transpose()?;
        let costs = Arc::new(reprice::reprice_all(
            &self.ledger,
            time_column,
            rates,
            models,
            modes,
        )?);
        self.repriced
            .lock()
            .expect("re-pricing cache")
            .insert(key, Arc::clone(&costs));
        Ok(costs)
    }

    /// Codes of column `name`, encoding it on first use.
    pub fn encoded(&self, name: &str) -> Result<Arc<Encoded>, Error> {
        self.encoded_tuple(&[name.to_owned()])
    }

    /// Codes of the tuples of `names` (one code per distinct combination), cached.
    pub fn encoded_tuple(&self, names: &[String]) -> Result<Arc<Encoded>, Error> {
        if let Some(e) = self.encoded.lock().expect("encoding cache").get(names) {
            return Ok(Arc::clone(e));
        }
        let e = Arc::new(match names {
            [one] => encode::encode(&self.ledger, one)?,
            _ => {
                let parts = names
                    .iter()
                    .map(|n| self.encoded(n))
                    .collect::<Result<Vec<_>, _>>()?;
                encode::combine(&parts, self.ledger.rows())
            }
        });
        self.encoded
            .lock()
            .expect("encoding cache")
            .insert(names.to_vec(), Arc::clone(&e));
        Ok(e)
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
