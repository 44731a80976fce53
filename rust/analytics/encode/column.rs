//! Dictionary encoding of one column: each worker codes its span of row ranges with a
//! dictionary of its own ([`SpanCoder`]), then the spans' dictionaries are merged and the
//! codes remapped in parallel.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, GenericStringArray, OffsetSizeTrait, StringViewArray};
use arrow_schema::DataType;
use rayon::prelude::*;

use super::hash::{FastMap, KeyRef};
use super::lookup::{ByteCodes, Dict, InlineCodes};
use super::{Encoded, KeyValue, Keys};
use crate::analytics::codes::Codes;
use crate::analytics::input::{Ledger, RowRange};
use crate::Error;

/// Views of long strings remembered per range: past this, distinct views are likely distinct
/// rows of a high-cardinality column, and remembering them would only grow the map.
const VIEW_BUDGET: usize = 1 << 16;

/// Long strings looked up by view before deciding whether views are worth it: strings a
/// driver built row by row never share a view (each points at its own bytes), and then
/// every look-up and insert by view is wasted work.
const VIEW_PROBES: usize = 4096;

/// Encodes column `name` of `ledger`.
pub fn encode(ledger: &Ledger, name: &str) -> Result<Encoded, Error> {
    let arrays = ledger.column(name)?;
    for a in &arrays {
        check_type(name, a.data_type())?;
    }
    // Each span of row ranges (one per thread) codes its rows with a dictionary of its own,
    // merged into the first span's at the end. A dictionary per span rather than per range:
    // the merge is serial, and a column of a million values (users) would otherwise merge
    // about as many keys per range as the range has rows. A span keeps its local codes as
    // narrow as its dictionary allows so far (`Codes::push` widens them when it outgrows a
    // width): four bytes per row first and a narrow copy after would take the memory of both.
    let ranges = ledger.ranges();
    let spans: Vec<&[RowRange]> = ranges
        .chunks(ranges.len().div_ceil(rayon::current_num_threads()).max(1))
        .collect();
    let coded: Vec<(SpanCoder, Codes)> = spans
        .par_iter()
        .enumerate()
        .map(|(s, span)| {
            let rows: usize = span.iter().map(RowRange::len).sum();
            // The first span's array takes the others' codes when merged: room for them all.
            let room = if s == 0 { ledger.rows() } else { rows };
            let mut coder = SpanCoder::default();
            let mut codes = Codes::with_capacity(0, room);
            let mut local = vec![0u32; span.iter().map(RowRange::len).max().unwrap_or(0)];
            for r in *span {
                let local = &mut local[..r.len()];
                coder.encode(&arrays[r.batch], r, local);
                codes.push(local, coder.dict.len(), room);
            }
            (coder, codes)
        })
        .collect();
    let (coders, codes): (Vec<SpanCoder>, Vec<Codes>) = coded.into_iter().unzip();

    // Merge in span order, so codes follow first appearance: the first span's coder takes
    // the others' keys, its tables finding the ones it has (no map of all the keys is built
    // again), and its dictionary becomes the column's.
    let mut coders = coders.into_iter();
    let mut merged = coders.next().unwrap_or_default();
    let mut remaps = vec![(0..merged.dict.len() as u32).collect::<Vec<_>>()];
    remaps.extend(coders.map(|c| c.dict.iter().map(|&k| merged.key(k)).collect()));
    let values: Vec<KeyValue> = merged.dict.iter().map(|&k| owned(k)).collect();
    Ok(Encoded {
        codes: Codes::merged(codes, &remaps, values.len(), ledger.rows()),
        keys: Keys::Values(values),
    })
}

fn owned(k: KeyRef) -> KeyValue {
    match k {
        KeyRef::Null => KeyValue::Null,
        KeyRef::Str(b) => KeyValue::Str(String::from_utf8_lossy(b).into_owned()),
        KeyRef::Int(i) => KeyValue::Int(i),
    }
}

fn check_type(name: &str, dt: &DataType) -> Result<(), Error> {
    match dt {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int64
        | DataType::Int32 => Ok(()),
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Ok(())
        }
        other => Err(Error::ColumnType(name.into(), other.to_string())),
    }
}

/// A span's dictionary, and the tables that find a key's code in it, kept from one row range
/// to the next.
#[derive(Default)]
struct SpanCoder<'a> {
    dict: Dict<'a>,
    inline: InlineCodes,
    bytes: ByteCodes,
    /// Long strings looked up by view so far, and found, over all the span's ranges: a range
    /// of a small batch holds fewer rows than a trial ([`VIEW_PROBES`]), and a trial begun
    /// afresh in each would never end.
    view_probes: usize,
    view_hits: usize,
    /// Whether the trial found that views are not worth looking up.
    views_off: bool,
    /// The values of the last dictionary-encoded range and their codes: the ranges of one
    /// array code them once.
    last_values: Option<(ArrayRef, Vec<u32>)>,
}

impl<'a> SpanCoder<'a> {
    /// Codes rows `r` of `array` into `out` (one code per row).
    fn encode(&mut self, array: &'a ArrayRef, r: &RowRange, out: &mut [u32]) {
        match array.data_type() {
            DataType::Utf8View => self.view(array.as_string_view(), r, out),
            DataType::Utf8 => self.utf8(array.as_string::<i32>(), r, out),
            DataType::LargeUtf8 => self.utf8(array.as_string::<i64>(), r, out),
            DataType::Int64 => {
                let a = array.as_primitive::<Int64Type>();
                self.keys(r, out, |i| {
                    if a.is_valid(i) {
                        KeyRef::Int(a.value(i))
                    } else {
                        KeyRef::Null
                    }
                });
            }
            DataType::Int32 => {
                let a = array.as_primitive::<Int32Type>();
                self.keys(r, out, |i| {
                    if a.is_valid(i) {
                        KeyRef::Int(i64::from(a.value(i)))
                    } else {
                        KeyRef::Null
                    }
                });
            }
            _ => self.dictionary(array, r, out),
        }
    }

    fn keys(&mut self, r: &RowRange, out: &mut [u32], get: impl Fn(usize) -> KeyRef<'a>) {
        for (i, o) in (r.start..r.end).zip(out) {
            *o = self.bytes.code(get(i), &mut self.dict);
        }
    }

    fn view(&mut self, a: &'a StringViewArray, r: &RowRange, out: &mut [u32]) {
        let views = a.views();
        let nulls = a.nulls();
        // A long string's view names a buffer of this array: views are compared within a
        // range only.
        let mut by_view: FastMap<u128, u32> = FastMap::default();
        let mut remembered_long = 0usize;
        for (i, o) in (r.start..r.end).zip(out) {
            if nulls.is_some_and(|n| n.is_null(i)) {
                *o = self.bytes.code(KeyRef::Null, &mut self.dict);
                continue;
            }
            let view = views[i];
            // An inline view (length <= 12) is the whole string: equal views, equal strings.
            if (view as u32) <= 12 {
                *o = self
                    .inline
                    .code(view, &mut self.dict, || KeyRef::Str(a.value(i).as_bytes()));
                continue;
            }
            if self.view_probes == VIEW_PROBES && self.view_hits * 4 < VIEW_PROBES {
                self.views_off = true; // fewer than a quarter shared a view: stop looking
            }
            let remember = !self.views_off && remembered_long < VIEW_BUDGET;
            if remember {
                self.view_probes += 1;
                if let Some(&c) = by_view.get(&view) {
                    self.view_hits += 1;
                    *o = c;
                    continue;
                }
            }
            let c = self
                .bytes
                .code(KeyRef::Str(a.value(i).as_bytes()), &mut self.dict);
            if remember {
                remembered_long += 1;
                by_view.insert(view, c);
            }
            *o = c;
        }
    }

    /// The code of `key`, added to the dictionary when new: a string of up to 12 bytes by the
    /// inline view it would have as a Utf8View, other keys by their bytes.
    #[inline]
    fn key(&mut self, key: KeyRef<'a>) -> u32 {
        match key {
            KeyRef::Str(s) if s.len() <= 12 => {
                self.inline.code(inline_view(s), &mut self.dict, || key)
            }
            _ => self.bytes.code(key, &mut self.dict),
        }
    }

    /// Utf8 and LargeUtf8 strings: one of up to 12 bytes is coded by the inline view it
    /// would have as a Utf8View, built here, so short strings take the same path as in
    /// [`SpanCoder::view`]; longer ones and nulls by their bytes.
    fn utf8<O: OffsetSizeTrait>(
        &mut self,
        a: &'a GenericStringArray<O>,
        r: &RowRange,
        out: &mut [u32],
    ) {
        for (i, o) in (r.start..r.end).zip(out) {
            let key = if a.is_valid(i) {
                KeyRef::Str(a.value(i).as_bytes())
            } else {
                KeyRef::Null
            };
            *o = self.key(key);
        }
    }

    /// Dictionary-encoded strings: the values are coded, then each row takes its value's code.
    /// Values already coded for the range before (of the same array) are not coded again, and
    /// only the range's own keys are read: a large array is several ranges.
    fn dictionary(&mut self, array: &'a ArrayRef, r: &RowRange, out: &mut [u32]) {
        let dict = array.as_any_dictionary();
        let values = dict.values();
        let inner = match self.last_values.take() {
            Some((last, codes)) if Arc::ptr_eq(&last, values) => codes,
            _ => {
                let whole = RowRange {
                    batch: 0,
                    start: 0,
                    end: values.len(),
                    global: 0,
                };
                let mut codes = vec![0u32; values.len()];
                self.encode(values, &whole, &mut codes);
                codes
            }
        };
        let range = array.slice(r.start, r.len());
        let range = range.as_any_dictionary();
        let keys = range.normalized_keys();
        let nulls = range.keys().nulls();
        for (k, o) in out.iter_mut().enumerate() {
            *o = if nulls.is_some_and(|n| n.is_null(k)) {
                self.bytes.code(KeyRef::Null, &mut self.dict)
            } else {
                inner[keys[k]]
            };
        }
        self.last_values = Some((Arc::clone(values), inner));
    }
}

/// The Utf8View view of a string of at most 12 bytes: its length (4 bytes, little-endian),
/// then the string, zero-padded.
#[inline]
fn inline_view(s: &[u8]) -> u128 {
    let mut view = [0u8; 16];
    view[..4].copy_from_slice(&(s.len() as u32).to_le_bytes());
    view[4..4 + s.len()].copy_from_slice(s);
    u128::from_le_bytes(view)
}
