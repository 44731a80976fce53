//! The tables that find a key's code in a span's dictionary: short strings by their inline
//! view ([`InlineCodes`]), other keys by their bytes ([`ByteCodes`]), both on a small
//! open-addressing [`ProbeTable`].

use std::hash::{Hash, Hasher};

use super::hash::{fold_mul, FastHasher, KeyRef, MUL, SEED};

/// The distinct values of one span, by local code.
pub(super) type Dict<'a> = Vec<KeyRef<'a>>;

/// Codes of strings of up to 12 bytes by their inline view, which is the whole string:
/// equal views, equal strings. The table of recent views is looked at first, then a
/// [`ProbeTable`] of all the views seen.
pub(super) struct InlineCodes {
    recent: RecentViews,
    table: ProbeTable<ViewSlot>,
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
            table: ProbeTable::default(),
        }
    }
}

impl InlineCodes {
    /// The code of `view`. A new view takes the next code of `dict`, and `key()` is added
    /// to it.
    #[inline]
    pub(super) fn code<'a>(
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

/// Codes of other keys (longer strings, null) by their bytes: a [`ProbeTable`] of hashes and
/// codes, a matching hash confirmed against the dictionary.
#[derive(Default)]
pub(super) struct ByteCodes {
    table: ProbeTable<ByteSlot>,
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
    pub(super) fn code<'a>(&mut self, key: KeyRef<'a>, dict: &mut Dict<'a>) -> u32 {
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

/// A slot of a [`ProbeTable`].
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
struct ProbeTable<S> {
    slots: Vec<S>,
    /// 64 less the table's size in bits.
    shift: u32,
    len: usize,
}

/// Slots in a new [`ProbeTable`] (in bits).
const FIRST_BITS: u32 = 6;

impl<S: Slot> Default for ProbeTable<S> {
    fn default() -> Self {
        ProbeTable::with_bits(FIRST_BITS)
    }
}

impl<S: Slot> ProbeTable<S> {
    fn with_bits(bits: u32) -> Self {
        ProbeTable {
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
