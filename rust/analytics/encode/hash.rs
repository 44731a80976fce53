//! Hashing and comparing short keys: the hasher every map of the encoder uses, and
//! [`KeyRef`], a key value borrowed from the ledger's arrays.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A folded-multiply hasher for short keys (as foldhash and ahash mix): the maps here hold
/// few keys and are probed once per row, so a cheap hash beats a DoS-resistant one. Folding
/// the 128-bit product carries every input bit into the low bits that pick the bucket.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

pub(super) const SEED: u64 = 0x243F_6A88_85A3_08D3;
pub(super) const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
pub(super) fn fold_mul(a: u64, b: u64) -> u64 {
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
