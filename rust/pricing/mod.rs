//! Exact pricing of one call against a compiled price catalog.
//!
//! Money is integer pico-USD (1e-12 USD): a rate of `r` USD per million tokens is `r * 1e6`
//! pico-USD per token, exact for every rate with up to six decimals, and a call's cost is a
//! sum of integer products. No floating point anywhere.
//!
//! The catalog follows genai-prices' model: each model has dated price versions (the last
//! active one wins, the first is the fallback), per-mode variants that override single price
//! keys, and threshold tiers where the whole request is priced at the tier selected by the
//! total input tokens. See <https://github.com/pydantic/genai-prices>.

mod catalog;
mod rates;

pub use catalog::{Catalog, ModelPricing, PriceVersion, Variant, When};
pub use rates::{PriceKey, Rate, RateSet, PRICE_KEYS};

use crate::Error;

/// The disjoint token buckets of the ledger, in their canonical order.
pub const BUCKETS: [&str; 8] = [
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
];

/// Token counts, one per bucket of [`BUCKETS`].
pub type Tokens = [u64; 8];

/// Which price keys can price each bucket, most specific first. A bucket whose own key is not
/// priced falls back to its parent's rate, as genai-prices' leaf decomposition does: cache
/// reads without a cache rate are charged as input, reasoning without its own rate as output.
pub(crate) const BUCKET_KEYS: [&[PriceKey]; 8] = [
    &[PriceKey::Input],
    &[PriceKey::CacheRead, PriceKey::Input],
    &[
        PriceKey::CacheWrite5m,
        PriceKey::CacheWrite,
        PriceKey::Input,
    ],
    &[
        PriceKey::CacheWrite1h,
        PriceKey::CacheWrite,
        PriceKey::Input,
    ],
    &[PriceKey::Output],
    &[PriceKey::OutputReasoning, PriceKey::Output],
    &[PriceKey::InputAudio, PriceKey::Input],
    &[PriceKey::OutputAudio, PriceKey::Output],
];

/// Buckets that count towards the total input that selects a tier.
pub(crate) const INPUT_BUCKETS: [usize; 5] = [0, 1, 2, 3, 6];

/// The exact cost of one call and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Cost per bucket of [`BUCKETS`], pico-USD.
    pub costs: [i64; 8],
    /// Per-request fee, pico-USD (a few models charge one).
    pub request_fee: i64,
    /// Sum of `costs` and `request_fee`.
    pub total: i64,
    /// Index of the price version used, in the model's version list.
    pub version: usize,
    /// The tier threshold applied, when the total input crossed one.
    pub tier_start: Option<u64>,
    /// Whether a mode variant (batch, flex, priority...) replaced at least one rate.
    pub variant_applied: bool,
}

impl Catalog {
    /// Prices `tokens` for the model at `model`, at `ts_us` (microseconds since the Unix
    /// epoch, UTC), in pricing mode `mode` (an index from [`Catalog::mode_index`]; `None` for
    /// standard), less `discount_ppm` parts per million.
    pub fn price(
        &self,
        model: usize,
        ts_us: i64,
        mode: Option<u32>,
        tokens: &Tokens,
        discount_ppm: u32,
    ) -> Result<Quote, Error> {
        let pricing = self.models.get(model).ok_or(Error::NoSuchModel(model))?;
        let (version, rates, variant_applied) = pricing.resolve(ts_us, mode);
        let total_input: u64 = INPUT_BUCKETS.iter().map(|&b| tokens[b]).sum();

        let mut costs = [0i64; 8];
        let mut tier_start = None;
        for (bucket, keys) in BUCKET_KEYS.iter().enumerate() {
            let Some(rate) = keys.iter().find_map(|&key| rates.get(key)) else {
                continue;
            };
            let (per_token, tier) = rate.select(total_input);
            tier_start = tier_start.max(tier);
            let cost = i128::from(tokens[bucket]) * i128::from(per_token);
            costs[bucket] = discounted(cost, discount_ppm)?;
        }
        let request_fee = match rates.get(PriceKey::Requests) {
            Some(rate) => discounted(i128::from(rate.select(total_input).0), discount_ppm)?,
            None => 0,
        };
        let total = costs
            .iter()
            .try_fold(request_fee, |acc, &c| acc.checked_add(c))
            .ok_or(Error::Overflow)?;
        Ok(Quote {
            costs,
            request_fee,
            total,
            version,
            tier_start,
            variant_applied,
        })
    }
}

/// `cost * (1 - ppm / 1e6)`, rounded half to even, as i64.
fn discounted(cost: i128, discount_ppm: u32) -> Result<i64, Error> {
    let cost = if discount_ppm == 0 {
        cost
    } else {
        div_round_half_even(cost * i128::from(1_000_000 - discount_ppm), 1_000_000)
    };
    i64::try_from(cost).map_err(|_| Error::Overflow)
}

/// Integer division rounded half to even, for a non-negative numerator.
fn div_round_half_even(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

#[cfg(test)]
mod tests;
