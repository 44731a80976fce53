//! Codes for tuples of encoded columns: a dictionary of the combinations that occur
//! ([`combine`]), or, for a small key space, the combination's mixed-radix number itself
//! ([`radix`]).

use std::sync::Arc;

use rayon::prelude::*;

use super::hash::FastMap;
use super::{Encoded, Keys};
use crate::analytics::codes::{remap_in_place, with_codes, Code, Codes};
use crate::analytics::input::split_mut;

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
