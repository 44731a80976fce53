//! Dictionary encoding of group-key columns: every row gets a dense `u32` code, equal values
//! equal codes, null its own code. Each worker encodes its span of row ranges with a local
//! dictionary, then the spans' dictionaries are merged and the codes remapped in parallel.
//!
//! Strings arrive as Utf8, LargeUtf8, Utf8View (what Polars exports) or dictionary-encoded;
//! integers as Int64 / Int32. A Utf8View row is first looked up by its 16-byte view: a string
//! of at most 12 bytes is stored inline in it, and rows gathered from one value share the view,
//! so most rows never touch the string bytes. A Utf8 or LargeUtf8 string of at most 12 bytes
//! (what SQL reads give) is looked up by the view it would have.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, GenericStringArray, OffsetSizeTrait, StringViewArray};
use arrow_schema::DataType;
use rayon::prelude::*;

use super::codes::{remap_in_place, with_codes, Code, Codes};
use super::input::{split_mut, Ledger, RowRange};
use crate::Error;

/// A folded-multiply hasher for short keys (as foldhash and ahash mix): the maps here hold
/// few keys and are probed once per row, so a cheap hash beats a DoS-resistant one. Folding
/// the 128-bit product carries every input bit into the low bits that pick the bucket.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const SEED: u64 = 0x243F_6A88_85A3_08D3;
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Hasher for FastHasher {
    /// Sixteen bytes per multiply, the last (overlapping) sixteen read whole: a key of up to
    /// 32 bytes, such as a model name, costs two. The length is mixed in, so keys of which one
    /// is the other's prefix padded with zeros still differ.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let n = bytes.len();
        let (a, b) = if n >= 16 {
            let mut at = 0;
            while at + 16 < n {
                self.0 = fold_mul(self.0 ^ word(at) ^ SEED, word(at + 8) ^ MUL);
                at += 16;
            }
            (word(n - 16), word(n - 8))
        } else if n >= 8 {
            (word(0), word(n - 8))
        } else {
            let mut tail = [0u8; 8];
            tail[..n].copy_from_slice(bytes);
            (u64::from_le_bytes(tail), 0)
        };
        self.0 = fold_mul(self.0 ^ a ^ SEED ^ n as u64, b ^ MUL);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = fold_mul(self.0 ^ n ^ SEED, MUL);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.0 = fold_mul(self.0 ^ (n as u64) ^ SEED, ((n >> 64) as u64) ^ MUL);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Key spaces up to this size get a direct table (4 MiB of slots) instead of a hash map.
const DENSE_LIMIT: u128 = 1 << 20;

/// Composite key to dense slot: a direct table for small key spaces, else a hash map.
pub enum SlotMap {
    /// Slot by key, `u32::MAX` for none yet.
    Dense(Vec<u32>),
    /// Slot by key.
    Sparse(FastMap<u128, u32>),
}

impl SlotMap {
    /// A map for keys below `space`.
    pub fn new(space: u128) -> Self {
        if space <= DENSE_LIMIT {
            SlotMap::Dense(vec![u32::MAX; space as usize])
        } else {
            SlotMap::Sparse(FastMap::default())
        }
    }

    /// The slot of `key`, assigning `next` when it has none.
    #[inline]
    pub fn slot(&mut self, key: u128, next: u32) -> u32 {
        match self {
            SlotMap::Dense(v) => {
                let s = &mut v[key as usize];
                if *s == u32::MAX {
                    *s = next;
                }
                *s
            }
            SlotMap::Sparse(m) => *m.entry(key).or_insert(next),
        }
    }
}

/// Contiguous row spans, one per worker thread.
pub fn spans(rows: usize) -> Vec<(usize, usize)> {
    let per = rows.div_ceil(rayon::current_num_threads().max(1)).max(1);
    (0..rows)
        .step_by(per)
        .map(|s| (s, (s + per).min(rows)))
        .collect()
}

/// One distinct key value.
#[derive(Debug, Clone, Copy, Eq)]
pub enum KeyRef<'a> {
    /// A null key.
    Null,
    /// A string's UTF-8 bytes.
    Str(&'a [u8]),
    /// An integer.
    Int(i64),
}

/// Strings of 8 to 16 bytes (most key values: model names, ids) compare as two overlapping
/// 8-byte words, inline; a slice comparison is a call to `memcmp` per probe.
impl PartialEq for KeyRef<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (KeyRef::Str(a), KeyRef::Str(b)) => {
                let n = a.len();
                if n != b.len() {
                    return false;
                }
                let word = |s: &[u8], at: usize| {
                    u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
                };
                if (8..=16).contains(&n) {
                    return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
                }
                if (17..=32).contains(&n) {
                    return word(a, 0) == word(b, 0)
                        && word(a, 8) == word(b, 8)
                        && word(a, n - 16) == word(b, n - 16)
                        && word(a, n - 8) == word(b, n - 8);
                }
                a == b
            }
            (KeyRef::Int(a), KeyRef::Int(b)) => a == b,
            (KeyRef::Null, KeyRef::Null) => true,
            _ => false,
        }
    }
}

/// One hasher call per key (a derived hash would add the variant and a length prefix): the
/// variants may share hashes, equality tells them apart.
impl Hash for KeyRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyRef::Null => state.write_u64(0),
            KeyRef::Str(b) => state.write(b),
            KeyRef::Int(i) => state.write_u64(*i as u64),
        }
    }
}

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

/// The distinct values of one row range, by local code.
type Dict<'a> = Vec<KeyRef<'a>>;

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
        let (mut probes, mut hits) = (0usize, 0usize);
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
            if probes == VIEW_PROBES && hits * 4 < probes {
                remembered_long = VIEW_BUDGET; // fewer than a quarter shared a view: stop looking
            }
            let remember = remembered_long < VIEW_BUDGET;
            if remember {
                probes += 1;
                if let Some(&c) = by_view.get(&view) {
                    hits += 1;
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
    fn dictionary(&mut self, array: &'a ArrayRef, r: &RowRange, out: &mut [u32]) {
        let dict = array.as_any_dictionary();
        let values = dict.values();
        let whole = RowRange {
            batch: 0,
            start: 0,
            end: values.len(),
            global: 0,
        };
        let mut inner = vec![0u32; values.len()];
        self.encode(values, &whole, &mut inner);
        let keys = dict.normalized_keys();
        let nulls = dict.keys().nulls();
        for (i, o) in (r.start..r.end).zip(out) {
            *o = if nulls.is_some_and(|n| n.is_null(i)) {
                self.bytes.code(KeyRef::Null, &mut self.dict)
            } else {
                inner[keys[i]]
            };
        }
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

/// Codes of strings of up to 12 bytes by their inline view, which is the whole string:
/// equal views, equal strings. The table of recent views is looked at first, then a
/// [`Table`] of all the views seen.
struct InlineCodes {
    recent: RecentViews,
    table: Table<ViewSlot>,
}

/// A view, as its two halves, and its code.
#[derive(Clone, Copy)]
struct ViewSlot {
    lo: u64,
    hi: u64,
    code: u32,
}

impl ViewSlot {
    #[inline]
    fn hash(lo: u64, hi: u64) -> u64 {
        fold_mul(lo ^ SEED, hi ^ MUL)
    }
}

impl Slot for ViewSlot {
    /// The low half of no inline view: its low four bytes are the length, at most 12.
    const EMPTY: Self = ViewSlot {
        lo: u64::MAX,
        hi: 0,
        code: 0,
    };

    fn is_empty(&self) -> bool {
        self.lo == u64::MAX
    }

    fn hash(&self) -> u64 {
        ViewSlot::hash(self.lo, self.hi)
    }

    fn code(&self) -> u32 {
        self.code
    }
}

impl Default for InlineCodes {
    fn default() -> Self {
        InlineCodes {
            recent: RecentViews::new(),
            table: Table::default(),
        }
    }
}

impl InlineCodes {
    /// The code of `view`. A new view takes the next code of `dict`, and `key()` is added
    /// to it.
    #[inline]
    fn code<'a>(
        &mut self,
        view: u128,
        dict: &mut Dict<'a>,
        key: impl FnOnce() -> KeyRef<'a>,
    ) -> u32 {
        let slot = self.recent.on.then(|| RecentViews::slot(view));
        if let Some(c) = slot.and_then(|s| self.recent.get(s, view)) {
            return c;
        }
        let (lo, hi) = (view as u64, (view >> 64) as u64);
        let next = dict.len() as u32;
        let c = self.table.code(
            ViewSlot::hash(lo, hi),
            |s| s.lo == lo && s.hi == hi,
            ViewSlot { lo, hi, code: next },
        );
        if c == next {
            dict.push(key());
        }
        if let Some(s) = slot {
            self.recent.slots[s] = (view, c);
        }
        c
    }
}

/// Codes of other keys (longer strings, null) by their bytes: a [`Table`] of hashes and
/// codes, a matching hash confirmed against the dictionary.
#[derive(Default)]
struct ByteCodes {
    table: Table<ByteSlot>,
}

/// A key's hash and code.
#[derive(Clone, Copy)]
struct ByteSlot {
    hash: u64,
    code: u32,
}

impl Slot for ByteSlot {
    const EMPTY: Self = ByteSlot {
        hash: 0,
        code: u32::MAX,
    };

    fn is_empty(&self) -> bool {
        self.code == u32::MAX
    }

    fn hash(&self) -> u64 {
        self.hash
    }

    fn code(&self) -> u32 {
        self.code
    }
}

impl ByteCodes {
    /// The code of `key`, the next code of `dict` (to which it is added) when new.
    #[inline]
    fn code<'a>(&mut self, key: KeyRef<'a>, dict: &mut Dict<'a>) -> u32 {
        let mut h = FastHasher::default();
        key.hash(&mut h);
        let hash = h.finish();
        let next = dict.len() as u32;
        let c = self.table.code(
            hash,
            |s| s.hash == hash && dict[s.code as usize] == key,
            ByteSlot { hash, code: next },
        );
        if c == next {
            dict.push(key);
        }
        c
    }
}

/// A slot of a [`Table`].
trait Slot: Copy {
    /// An empty slot.
    const EMPTY: Self;
    fn is_empty(&self) -> bool;
    /// The hash of the slot's key.
    fn hash(&self) -> u64;
    fn code(&self) -> u32;
}

/// An open-addressing table, at most half full, probed linearly from the top bits of a key's
/// hash: a hit is a slot read and a compare, where a `HashMap` probe reads its control bytes,
/// then the bucket. 10M rows, one process, alternating: a column of 10,000 short strings
/// (tenants) encoded in 63 ms instead of 79 (minimums of 7), one of 200 long ones (model
/// names) in 81 instead of 102. A column of a few values keeps its table in L1, one of
/// thousands in L2.
struct Table<S> {
    slots: Vec<S>,
    /// 64 less the table's size in bits.
    shift: u32,
    len: usize,
}

/// Slots in a new [`Table`] (in bits).
const FIRST_BITS: u32 = 6;

impl<S: Slot> Default for Table<S> {
    fn default() -> Self {
        Table::with_bits(FIRST_BITS)
    }
}

impl<S: Slot> Table<S> {
    fn with_bits(bits: u32) -> Self {
        Table {
            slots: vec![S::EMPTY; 1 << bits],
            shift: 64 - bits,
            len: 0,
        }
    }

    /// The code of the slot `is` accepts, probing from `hash`; if none, `new` is inserted and
    /// its code returned.
    #[inline]
    fn code(&mut self, hash: u64, is: impl Fn(&S) -> bool, new: S) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> self.shift) as usize;
        while !self.slots[i].is_empty() {
            if is(&self.slots[i]) {
                return self.slots[i].code();
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = new;
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        new.code()
    }

    /// Doubles the table.
    fn grow(&mut self) {
        let old = std::mem::replace(self, Self::with_bits(64 - self.shift + 1));
        self.len = old.len;
        let mask = self.slots.len() - 1;
        for s in old.slots.into_iter().filter(|s| !s.is_empty()) {
            let mut i = (s.hash() >> self.shift) as usize;
            while !self.slots[i].is_empty() {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

/// Inline views (strings of up to 12 bytes) seen lately and their codes, in a small
/// direct-mapped table: a hit is one multiply and one compare, in L1, where the hash map's
/// probe (control bytes, then the bucket) costs several times that. Columns of a few values
/// (providers, modes, features) mostly hit: 10M rows of one encode in 25 ms instead of
/// 44-48 ms (minimums of 9, one process). A column of thousands (tenants) misses too often
/// and turns the table off after a trial.
struct RecentViews {
    slots: Box<[(u128, u32); RECENT_SLOTS]>,
    /// Whether to look views up here: during the trial, and after it if it went well.
    on: bool,
    /// Look-ups and hits, counted until [`RECENT_TRIAL`] look-ups.
    lookups: usize,
    hits: usize,
}

/// Look-ups after which [`RecentViews`] is kept only if at least 3 in 4 hit: a column of
/// thousands of values would mostly miss, and a miss costs the table's look-up on top of the
/// map's.
const RECENT_TRIAL: usize = 4096;

/// Slots of [`RecentViews`] (8 KiB of views and codes).
const RECENT_SLOTS: usize = 256;

impl RecentViews {
    fn new() -> Self {
        // A view whose length field is past 12 is never looked up here: an empty slot.
        RecentViews {
            slots: Box::new([(u128::MAX, 0); RECENT_SLOTS]),
            on: true,
            lookups: 0,
            hits: 0,
        }
    }

    /// Where `view` goes in the table.
    #[inline]
    fn slot(view: u128) -> usize {
        let mut h = FastHasher::default();
        h.write_u128(view);
        (h.finish() >> 56) as usize
    }

    /// The code of `view` if it is in its slot, `slot(view)`.
    #[inline]
    fn get(&mut self, slot: usize, view: u128) -> Option<u32> {
        let (v, c) = self.slots[slot];
        let hit = v == view;
        if self.lookups < RECENT_TRIAL {
            self.lookups += 1;
            self.hits += usize::from(hit);
            if self.lookups == RECENT_TRIAL {
                self.on = self.hits * 4 >= RECENT_TRIAL * 3;
            }
        }
        hit.then_some(c)
    }
}

/// Rows whose composite keys [`combine`] and [`radix`] compute at a time (at most 16 KiB of
/// keys, in L1).
const BLOCK: usize = 2048;

/// Codes for the tuples of several encoded columns: one code per distinct combination that
/// occurs, in order of first appearance.
pub fn combine(parts: &[Arc<Encoded>], rows: usize) -> Encoded {
    // A row's key is its parts' codes in mixed radix, the first part varying slowest, built
    // in Horner's form: key = (..(c0 * n1 + c1) * n2 + c2)..
    let cards: Vec<u64> = parts
        .iter()
        .map(|p| p.cardinality().max(1) as u64)
        .collect();
    let space = space(parts.iter().map(|p| p.cardinality()));
    // Key spaces that fit 64 bits (all but the most extreme) compute a block of rows' keys a
    // column at a time, one 64-bit multiply-add per part and row, instead of a 128-bit key
    // per row (measured on 10M rows of two parts: 12-13% off the combine).
    let narrow = space <= u128::from(u64::MAX);
    let composite = |i: usize| -> u128 {
        parts.iter().zip(&cards).fold(0, |k, (p, &card)| {
            k * u128::from(card) + u128::from(p.codes.get(i))
        })
    };
    // Each span writes local codes into its part of an array, remapped to global codes once
    // the spans' dictionaries are merged. The array is as wide as the key space needs (a
    // span's local codes are below it too), so it is remapped in place: codes that fit a
    // narrower width than the space's are left in the wider one, where a narrow copy would
    // hold both at once. A dictionary entry keeps the composite key and the parts' codes,
    // read from the row that brought it (in cache then; later, a random read).
    let mut codes = Codes::zeroed(space.min(rows as u128) as usize, rows);
    let bounds = spans(rows);
    let lens: Vec<usize> = bounds.iter().map(|&(s, e)| e - s).collect();
    let n_parts = parts.len();
    let dicts: Vec<(Vec<u128>, Vec<u32>)> = with_codes!(&mut codes, out => {
        split_mut(out, lens.iter().copied())
            .into_par_iter()
            .zip(&bounds)
            .map(|(out, &(s, _))| {
                let mut map = SlotMap::new(space);
                let (mut keys, mut part_codes) = (Vec::new(), Vec::new());
                let mut assign = |i: usize, k: u128| -> u32 {
                    let c = map.slot(k, keys.len() as u32);
                    if c as usize == keys.len() {
                        keys.push(k);
                        part_codes.extend(parts.iter().map(|p| p.codes.get(i)));
                    }
                    c
                };
                if narrow {
                    let mut block = [0u64; BLOCK];
                    for (start, out) in (s..).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
                        let block = &mut block[..out.len()];
                        block.fill(0);
                        for (p, &card) in parts.iter().zip(&cards) {
                            with_codes!(&p.codes, codes => {
                                for (k, &c) in block.iter_mut().zip(&codes[start..]) {
                                    *k = *k * card + c.index() as u64;
                                }
                            });
                        }
                        for ((i, o), &k) in (start..).zip(out.iter_mut()).zip(block.iter()) {
                            *o = Code::from_u32(assign(i, u128::from(k)));
                        }
                    }
                } else {
                    for (i, o) in (s..).zip(out.iter_mut()) {
                        *o = Code::from_u32(assign(i, composite(i)));
                    }
                }
                (keys, part_codes)
            })
            .collect()
    });
    let mut global = SlotMap::new(space);
    let mut tuples = Vec::new();
    let remaps: Vec<Vec<u32>> = dicts
        .iter()
        .map(|(keys, part_codes)| {
            keys.iter()
                .zip(part_codes.chunks_exact(n_parts))
                .map(|(&k, p)| {
                    let c = global.slot(k, (tuples.len() / n_parts) as u32);
                    if c as usize == tuples.len() / n_parts {
                        tuples.extend_from_slice(p);
                    }
                    c
                })
                .collect()
        })
        .collect();
    with_codes!(&mut codes, out => remap_in_place(out, &lens, &remaps));
    Encoded {
        codes,
        keys: Keys::Tuples {
            parts: parts.to_vec(),
            codes: tuples,
        },
    }
}

/// Rows per unit of work in [`radix`] (256 KiB of codes).
const RADIX_ROWS: usize = 1 << 16;

/// Whether [`radix`] codes suit `rows` rows by parts whose key space is `space`: arrays by
/// group of that size cost less than a dictionary of the combinations that occur (a hash
/// probe per row, a second pass to remap codes).
pub fn radix_fits(space: u128, rows: usize) -> bool {
    space <= (rows / 8) as u128 && space < u128::from(u32::MAX)
}

/// Codes for the tuples of several encoded columns whose key space is small (see
/// [`radix_fits`]): a row's code is its key itself, its parts' codes in mixed radix, with no
/// dictionary. `significance` lists the parts from the most significant digit down. Codes of
/// combinations that no row has go unused.
///
/// Which part is most significant decides which groups share cache lines in every array by
/// group. A ledger in time order with the time bucket most significant keeps the groups of
/// one bucket, the ones its rows update, next to each other. Codes by first appearance
/// ([`combine`]) do that for any key: at 10M rows, (feature, tenant) by radix codes (tenant
/// most significant or least) made the totals a fifth to a third slower than by
/// [`combine`]'s codes, more than the dictionary costs.
pub fn radix(parts: &[Arc<Encoded>], significance: &[usize], rows: usize) -> Encoded {
    let mut strides = vec![0u32; parts.len()];
    let mut place = 1u32;
    for &k in significance.iter().rev() {
        strides[k] = place;
        // At most the whole space, below 2^32 (see `radix_fits`).
        place *= parts[k].cardinality().max(1) as u32;
    }
    let mut codes = Codes::zeroed(place as usize, rows);
    with_codes!(&mut codes, out => radix_into(parts, &strides, out));
    Encoded {
        codes,
        keys: Keys::Radix {
            parts: parts.to_vec(),
            strides,
        },
    }
}

/// Writes [`radix`] codes, a block of rows at a time: each part adds its digit to the
/// block's keys (four bytes each, whatever the width of `out`), then the block is stored.
fn radix_into<T: Code>(parts: &[Arc<Encoded>], strides: &[u32], out: &mut [T]) {
    out.par_chunks_mut(RADIX_ROWS)
        .enumerate()
        .for_each(|(chunk, out)| {
            let mut keys = [0u32; BLOCK];
            for (start, out) in (chunk * RADIX_ROWS..)
                .step_by(BLOCK)
                .zip(out.chunks_mut(BLOCK))
            {
                let keys = &mut keys[..out.len()];
                keys.fill(0);
                for (p, &stride) in parts.iter().zip(strides) {
                    with_codes!(&p.codes, codes => {
                        for (k, &c) in keys.iter_mut().zip(&codes[start..]) {
                            *k += c.index() as u32 * stride;
                        }
                    });
                }
                for (o, &k) in out.iter_mut().zip(keys.iter()) {
                    *o = T::from_u32(k);
                }
            }
        });
}

/// The number of distinct composite keys columns of these cardinalities can form.
pub fn space(cards: impl Iterator<Item = usize>) -> u128 {
    cards.fold(1u128, |acc, c| acc.saturating_mul(c.max(1) as u128))
}
