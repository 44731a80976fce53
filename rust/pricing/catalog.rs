//! The compiled catalog: per model, dated price versions and per-mode variants.
//!
//! It is built in Python from genai-prices' data plus the user's overrides and handed over as
//! JSON, so the matching of model names (genai-prices' clause language) stays in one place
//! and the core sees only indexes.

use serde::Deserialize;

use super::rates::{RateSet, Resolved};
use crate::Error;

const US_PER_DAY: i64 = 86_400_000_000;

/// When a price version or variant is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// From this UTC day on (days since the Unix epoch).
    FromDay(i64),
    /// Daily between two UTC times of day, in seconds; wraps past midnight when end < start.
    Daily(u32, u32),
}

impl When {
    /// Whether the constraint holds at `ts_us` (microseconds since the epoch, UTC).
    pub fn active(self, ts_us: i64) -> bool {
        match self {
            When::FromDay(day) => ts_us.div_euclid(US_PER_DAY) >= day,
            When::Daily(start, end) => {
                let now = ts_us.rem_euclid(US_PER_DAY);
                let (start, end) = (i64::from(start) * 1_000_000, i64::from(end) * 1_000_000);
                if end < start {
                    now >= start || now < end
                } else {
                    start <= now && now < end
                }
            }
        }
    }
}

fn active(when: Option<When>, ts_us: i64) -> bool {
    when.is_none_or(|w| w.active(ts_us))
}

/// One price version of a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceVersion {
    /// When this version applies; `None` always.
    pub when: Option<When>,
    /// Its standard rates.
    pub rates: RateSet,
}

/// Rates that replace the standard ones for one pricing mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Index into [`Catalog::modes`].
    pub mode: u32,
    /// When this variant applies; `None` always.
    pub when: Option<When>,
    /// The keys it replaces.
    pub rates: RateSet,
}

/// Everything needed to price one catalog model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPricing {
    /// Price versions; the last active one wins, the first is used when none is active.
    pub versions: Vec<PriceVersion>,
    /// Mode variants, resolved first to last independently for each price key.
    #[serde(default)]
    pub variants: Vec<Variant>,
}

impl ModelPricing {
    /// The version in force at `ts_us`, its rates with `mode`'s variants applied, and whether
    /// any variant replaced a rate.
    pub(crate) fn resolve(&self, ts_us: i64, mode: Option<u32>) -> (usize, Resolved<'_>, bool) {
        let version = self
            .versions
            .iter()
            .rposition(|v| active(v.when, ts_us))
            .unwrap_or(0);
        let mut resolved = Resolved {
            standard: &self.versions[version].rates,
            overrides: [None; 10],
        };
        let mut applied = false;
        if let Some(mode) = mode {
            for variant in self
                .variants
                .iter()
                .filter(|v| v.mode == mode && active(v.when, ts_us))
            {
                for (key, rate) in variant.rates.iter() {
                    let slot = &mut resolved.overrides[key as usize];
                    if slot.is_none() {
                        *slot = Some(rate);
                        applied = true;
                    }
                }
            }
        }
        (version, resolved, applied)
    }
}

/// A compiled price catalog: models by index, and the pricing modes its variants name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Pricing modes other than standard (`batch`, `flex`, `priority`...), by index.
    pub modes: Vec<String>,
    /// Models, by the index the Python side resolved a name to.
    pub models: Vec<ModelPricing>,
}

impl Catalog {
    /// Parses the JSON the Python catalog compiler writes.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let catalog: Catalog = serde_json::from_str(json)?;
        for (i, model) in catalog.models.iter().enumerate() {
            if model.versions.is_empty() {
                return Err(Error::InvalidCatalog(format!(
                    "model {i} has no price version"
                )));
            }
            if model
                .variants
                .iter()
                .any(|v| v.mode as usize >= catalog.modes.len())
            {
                return Err(Error::InvalidCatalog(format!(
                    "model {i} names an unknown mode"
                )));
            }
        }
        Ok(catalog)
    }

    /// The index of a pricing mode, `None` when no variant names it (standard rates apply).
    pub fn mode_index(&self, mode: &str) -> Option<u32> {
        self.modes.iter().position(|m| m == mode).map(|i| i as u32)
    }
}
