//! Rates: the price keys the ledger understands and their (possibly tiered) values.

use serde::Deserialize;

/// A price key of genai-prices' unit registry that prices one of the ledger's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceKey {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    CacheWrite5m,
    CacheWrite1h,
    OutputReasoning,
    InputAudio,
    OutputAudio,
    Requests,
}

/// The price keys in [`RateSet`] order, with their names in genai-prices' data.
pub const PRICE_KEYS: [(PriceKey, &str); 10] = [
    (PriceKey::Input, "input_mtok"),
    (PriceKey::Output, "output_mtok"),
    (PriceKey::CacheRead, "cache_read_mtok"),
    (PriceKey::CacheWrite, "cache_write_mtok"),
    (PriceKey::CacheWrite5m, "cache_write_5m_mtok"),
    (PriceKey::CacheWrite1h, "cache_write_1h_mtok"),
    (PriceKey::OutputReasoning, "output_reasoning_mtok"),
    (PriceKey::InputAudio, "input_audio_mtok"),
    (PriceKey::OutputAudio, "output_audio_mtok"),
    (PriceKey::Requests, "requests_kcount"),
];

/// One price: pico-USD per token (per request for [`PriceKey::Requests`]), with optional
/// threshold tiers. Crossing a tier's start prices *all* tokens at that tier's rate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Rate below the first tier.
    pub base: i64,
    /// `(start, rate)` pairs in ascending `start`; a tier applies when total input > start.
    #[serde(default)]
    pub tiers: Vec<(u64, i64)>,
}

impl Rate {
    /// The rate that applies for `total_input` tokens, and the threshold of the tier used.
    pub fn select(&self, total_input: u64) -> (i64, Option<u64>) {
        match self
            .tiers
            .iter()
            .rev()
            .find(|(start, _)| total_input > *start)
        {
            Some(&(start, rate)) => (rate, Some(start)),
            None => (self.base, None),
        }
    }
}

/// A set of rates indexed by [`PriceKey`]; absent keys are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSet {
    input_mtok: Option<Rate>,
    output_mtok: Option<Rate>,
    cache_read_mtok: Option<Rate>,
    cache_write_mtok: Option<Rate>,
    cache_write_5m_mtok: Option<Rate>,
    cache_write_1h_mtok: Option<Rate>,
    output_reasoning_mtok: Option<Rate>,
    input_audio_mtok: Option<Rate>,
    output_audio_mtok: Option<Rate>,
    requests_kcount: Option<Rate>,
}

impl RateSet {
    /// The rate for `key`, if priced.
    pub fn get(&self, key: PriceKey) -> Option<&Rate> {
        self.slot(key).as_ref()
    }

    fn slot(&self, key: PriceKey) -> &Option<Rate> {
        match key {
            PriceKey::Input => &self.input_mtok,
            PriceKey::Output => &self.output_mtok,
            PriceKey::CacheRead => &self.cache_read_mtok,
            PriceKey::CacheWrite => &self.cache_write_mtok,
            PriceKey::CacheWrite5m => &self.cache_write_5m_mtok,
            PriceKey::CacheWrite1h => &self.cache_write_1h_mtok,
            PriceKey::OutputReasoning => &self.output_reasoning_mtok,
            PriceKey::InputAudio => &self.input_audio_mtok,
            PriceKey::OutputAudio => &self.output_audio_mtok,
            PriceKey::Requests => &self.requests_kcount,
        }
    }
}

/// A view of a standard [`RateSet`] with some keys replaced by a mode variant's.
pub struct Resolved<'a> {
    pub(crate) standard: &'a RateSet,
    /// Overrides per key, in [`PRICE_KEYS`] order.
    pub(crate) overrides: [Option<&'a Rate>; 10],
}

impl<'a> Resolved<'a> {
    /// The variant's rate for `key` if one replaced it, else the standard rate.
    pub fn get(&self, key: PriceKey) -> Option<&'a Rate> {
        self.overrides[key as usize].or_else(|| self.standard.get(key))
    }
}

impl RateSet {
    /// Keys this set prices, with their rates.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (PriceKey, &Rate)> {
        PRICE_KEYS
            .iter()
            .filter_map(|&(key, _)| self.get(key).map(|rate| (key, rate)))
    }
}
