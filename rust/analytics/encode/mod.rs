//! Dictionary encoding of group-key columns: every row gets a dense `u32` code, equal values
//! equal codes, null its own code. Each worker encodes its span of row ranges with a local
//! dictionary, then the spans' dictionaries are merged and the codes remapped in parallel.
//!
//! Strings arrive as Utf8, LargeUtf8, Utf8View (what Polars exports) or dictionary-encoded;
//! integers as Int64 / Int32. A Utf8View row is first looked up by its 16-byte view: a string
//! of at most 12 bytes is stored inline in it, and rows gathered from one value share the view,
//! so most rows never touch the string bytes. A Utf8 or LargeUtf8 string of at most 12 bytes
//! (what SQL reads give) is looked up by the view it would have.
//!
//! One concern per file: [`hash`] (the hasher and borrowed keys), [`column`] (one column's
//! codes), [`lookup`] (the tables that find a key's code), [`tuples`] (codes of several
//! columns together).

mod column;
mod hash;
mod lookup;
mod tuples;

use std::sync::Arc;

pub use column::encode;
#[cfg(test)]
pub(super) use hash::KeyRef;
pub use tuples::{combine, radix, radix_fits, space};

use super::codes::Codes;

/// A key column (or a tuple of them) encoded to dense codes.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Code of each row of the ledger.
    pub codes: Codes,
    /// What each code stands for.
    pub keys: Keys,
}

/// The distinct keys of an [`Encoded`], by code.
#[derive(Debug, Clone)]
pub enum Keys {
    /// The distinct values of one column: a string, an integer, or null.
    Values(Vec<KeyValue>),
    /// Distinct combinations of the parts' values, as the parts' codes (so no value is
    /// copied out of its part): combination `c` is `codes[c * parts.len()..][..parts.len()]`.
    Tuples {
        /// The encoded columns combined.
        parts: Vec<Arc<Encoded>>,
        /// Each combination's code in each part.
        codes: Vec<u32>,
    },
    /// Every combination of the parts' codes, whether it occurs or not: combination `c` has
    /// code `c / strides[k] % cardinality` in part `k` (see [`radix`]).
    Radix {
        /// The encoded columns combined.
        parts: Vec<Arc<Encoded>>,
        /// Each part's place value.
        strides: Vec<u32>,
    },
}

/// An owned distinct key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// A null key.
    Null,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A combination of values of several columns.
    Tuple(Vec<KeyValue>),
}

impl Encoded {
    /// Number of distinct keys.
    pub fn cardinality(&self) -> usize {
        match &self.keys {
            Keys::Values(v) => v.len(),
            Keys::Tuples { parts, codes } => codes.len() / parts.len(),
            Keys::Radix { parts, .. } => parts.iter().map(|p| p.cardinality().max(1)).product(),
        }
    }

    /// Part `k` of key `code`: the value itself for one column.
    pub fn value(&self, code: usize, k: usize) -> &KeyValue {
        match &self.keys {
            Keys::Values(v) => &v[code],
            Keys::Tuples { parts, codes } => {
                parts[k].value(codes[code * parts.len() + k] as usize, 0)
            }
            Keys::Radix { parts, strides } => parts[k].value(
                code / strides[k] as usize % parts[k].cardinality().max(1),
                0,
            ),
        }
    }

    /// Key `code` as an owned value, a [`KeyValue::Tuple`] for a combination.
    pub fn key(&self, code: usize) -> KeyValue {
        match &self.keys {
            Keys::Values(v) => v[code].clone(),
            Keys::Tuples { parts, .. } | Keys::Radix { parts, .. } => KeyValue::Tuple(
                (0..parts.len())
                    .map(|k| self.value(code, k).clone())
                    .collect(),
            ),
        }
    }

    /// The code of `value`, if any row holds it.
    pub fn code_of(&self, value: &KeyValue) -> Option<u32> {
        let code = match &self.keys {
            Keys::Values(v) => v.iter().position(|x| x == value),
            Keys::Tuples { .. } | Keys::Radix { .. } => {
                (0..self.cardinality()).find(|&c| self.key(c) == *value)
            }
        };
        code.map(|c| c as u32)
    }
}
