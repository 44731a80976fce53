//! Per-row codes as narrow as their number of distinct keys allows: a byte for up to 255 keys
//! (providers, models, modes, features, days), two bytes for up to 65,535 (tenants), four
//! beyond. At 10M rows a column's codes take 10 or 20 MB instead of 40, for as long as they
//! are cached, and every pass that reads them (re-pricing's routes, combining key columns,
//! each measure of a rollup) reads that much less.

use rayon::prelude::*;

use super::input::split_mut;
use super::pages::{self, Zeroable};

/// One code width.
pub trait Code: Copy + Send + Sync + Zeroable + 'static {
    /// A row no group takes (a filtered-out row). A width is only used for fewer keys than
    /// its largest value, so this is past every code.
    const NONE: Self;
    /// `c`, which is below [`Code::NONE`].
    fn from_u32(c: u32) -> Self;
    /// The code as an index.
    fn index(self) -> usize;
}

macro_rules! code {
    ($t:ty) => {
        impl Code for $t {
            const NONE: Self = <$t>::MAX;
            #[inline]
            fn from_u32(c: u32) -> Self {
                c as $t
            }
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}
code!(u8);
code!(u16);
code!(u32);

/// A code per row, in one of three widths.
#[derive(Debug, Clone)]
pub enum Codes {
    /// Up to 255 keys.
    U8(Vec<u8>),
    /// Up to 65,535 keys.
    U16(Vec<u16>),
    /// More.
    U32(Vec<u32>),
}

/// Runs `$body` with `$v` bound to the codes' vector, whatever its width: the body is
/// compiled once per width, so a kernel generic over [`Code`] runs monomorphised.
macro_rules! with_codes {
    ($codes:expr, $v:ident => $body:expr) => {
        match $codes {
            $crate::analytics::codes::Codes::U8($v) => $body,
            $crate::analytics::codes::Codes::U16($v) => $body,
            $crate::analytics::codes::Codes::U32($v) => $body,
        }
    };
}
pub(crate) use with_codes;

impl Codes {
    /// `rows` zero codes in the narrowest width that holds `keys` distinct codes and
    /// [`Code::NONE`].
    pub fn zeroed(keys: usize, rows: usize) -> Codes {
        if keys <= usize::from(u8::MAX) {
            Codes::U8(pages::zeroed(rows))
        } else if keys <= usize::from(u16::MAX) {
            Codes::U16(pages::zeroed(rows))
        } else {
            Codes::U32(pages::zeroed(rows))
        }
    }

    /// Row `i`'s code.
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        match self {
            Codes::U8(v) => u32::from(v[i]),
            Codes::U16(v) => u32::from(v[i]),
            Codes::U32(v) => v[i],
        }
    }

    /// No codes yet, with room for `rows` in the narrowest width for `keys`: the pages are
    /// taken from the system as codes are written, so unused room costs no memory.
    pub fn with_capacity(keys: usize, rows: usize) -> Codes {
        if keys <= usize::from(u8::MAX) {
            Codes::U8(pages::with_capacity(rows))
        } else if keys <= usize::from(u16::MAX) {
            Codes::U16(pages::with_capacity(rows))
        } else {
            Codes::U32(pages::with_capacity(rows))
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        with_codes!(self, v => v.len())
    }

    /// Whether there are no codes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most keys this width holds (its largest value is [`Code::NONE`]).
    fn most_keys(&self) -> usize {
        match self {
            Codes::U8(_) => usize::from(u8::MAX),
            Codes::U16(_) => usize::from(u16::MAX),
            Codes::U32(_) => usize::MAX,
        }
    }

    /// Appends `codes`, each below `keys`, first widening the array if need be
    /// ([`Codes::widen`]).
    pub fn push(&mut self, codes: &[u32], keys: usize, rows: usize) {
        self.widen(keys, rows);
        with_codes!(self, v => extend(v, codes));
    }

    /// Copies the codes into a wider array when this width no longer holds `keys` keys; the
    /// wider array gets room for `rows` codes.
    fn widen(&mut self, keys: usize, rows: usize) {
        if keys > self.most_keys() {
            let mut wider = Codes::with_capacity(keys, rows);
            with_codes!(&mut wider, w => with_codes!(&*self, v => extend(w, v)));
            *self = wider;
        }
    }

    /// One array of global codes from the local codes of consecutive spans of rows (`spans`,
    /// `rows` in all): span `s`'s local code `c` is global code `remaps[s][c]`, of `keys` in
    /// all. The first span's codes are global already (the other spans' dictionaries are merged
    /// into its own), so its array, widened if need be, takes the others' codes; the first
    /// span's array is best made with room for all the rows.
    pub fn merged(spans: Vec<Codes>, remaps: &[Vec<u32>], keys: usize, rows: usize) -> Codes {
        let mut spans = spans.into_iter();
        let mut out = spans
            .next()
            .unwrap_or_else(|| Codes::with_capacity(keys, rows));
        out.widen(keys, rows);
        let rest: Vec<Codes> = spans.collect();
        with_codes!(&mut out, v => append_remapped(v, &rest, &remaps[1..]));
        out
    }
}

/// Appends `codes` to `out`, whose width holds them.
fn extend<S: Code, T: Code>(out: &mut Vec<T>, codes: &[S]) {
    out.extend(codes.iter().map(|c| T::from_u32(c.index() as u32)));
}

/// Appends each of `spans`, its codes mapped by its remap.
fn append_remapped<T: Code>(out: &mut Vec<T>, spans: &[Codes], remaps: &[Vec<u32>]) {
    let start = out.len();
    let added: usize = spans.iter().map(Codes::len).sum();
    out.reserve_exact(added);
    let tail = &mut out.spare_capacity_mut()[..added];
    for ((span, remap), dest) in spans
        .iter()
        .zip(remaps)
        .zip(split_mut(tail, spans.iter().map(Codes::len)))
    {
        with_codes!(span, src => {
            dest.par_chunks_mut(PAR_ROWS)
                .zip(src.par_chunks(PAR_ROWS))
                .for_each(|(dest, src)| {
                    for (d, &c) in dest.iter_mut().zip(src) {
                        d.write(T::from_u32(remap[c.index()]));
                    }
                });
        });
    }
    // SAFETY: the loop wrote every one of the `added` values after `start` (the spans'
    // lengths sum to `added`, and each chunk of theirs is written whole).
    unsafe { out.set_len(start + added) };
}

/// Codes [`Codes::merged`] remaps per unit of parallel work.
const PAR_ROWS: usize = 1 << 16;

/// Global codes in place of the local codes of consecutive spans of rows (`lens` of them):
/// span `s`'s local code `c` becomes `remaps[s][c]`. The first span's codes stay: they are
/// global already, as in [`Codes::merged`].
pub fn remap_in_place<T: Code>(codes: &mut [T], lens: &[usize], remaps: &[Vec<u32>]) {
    let spans = split_mut(codes, lens.iter().copied());
    for (span, remap) in spans.into_iter().zip(remaps).skip(1) {
        span.par_chunks_mut(PAR_ROWS).for_each(|span| {
            for c in span.iter_mut() {
                *c = T::from_u32(remap[c.index()]);
            }
        });
    }
}
