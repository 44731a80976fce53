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

    /// Global codes, in the narrowest width for `keys` of them, from local ones: `local` holds
    /// spans of `lens` rows in turn, and `remaps[s]` maps span `s`'s local codes to global
    /// ones. Four-byte codes are remapped in place, so no second array of that size is made.
    pub fn remapped(
        mut local: Vec<u32>,
        lens: &[usize],
        remaps: &[Vec<u32>],
        keys: usize,
    ) -> Codes {
        // Past 65,535 keys the codes are four bytes wide, as `zeroed` would choose.
        if keys > usize::from(u16::MAX) {
            split_mut(&mut local, lens.iter().copied())
                .into_par_iter()
                .zip(remaps)
                .for_each(|(span, remap)| {
                    for c in span.iter_mut() {
                        *c = remap[*c as usize];
                    }
                });
            return Codes::U32(local);
        }
        let mut codes = Codes::zeroed(keys, local.len());
        with_codes!(&mut codes, out => remap_into(&local, out, lens, remaps));
        codes
    }
}

fn remap_into<T: Code>(local: &[u32], out: &mut [T], lens: &[usize], remaps: &[Vec<u32>]) {
    let starts: Vec<usize> = lens
        .iter()
        .scan(0, |at, &n| {
            *at += n;
            Some(*at - n)
        })
        .collect();
    split_mut(out, lens.iter().copied())
        .into_par_iter()
        .zip(starts)
        .zip(remaps)
        .for_each(|((out, start), remap)| {
            for (o, &c) in out.iter_mut().zip(&local[start..]) {
                *o = T::from_u32(remap[c as usize]);
            }
        });
}
