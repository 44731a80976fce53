//! Exact latency statistics per group (mean, p50, p95, max) without a vector per group.
//!
//! Each worker logs `(group slot, latency)` in row order as it goes, a sequential write. Once
//! the groups are merged, a counting sort scatters every worker's log into one flat array,
//! each group's values contiguous; the percentiles are then a selection within each slice.
//! Groups are visited in parallel, and the slices follow row order, so sums are reproducible.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

/// The latencies one worker saw, in row order, with their group slots.
#[derive(Debug, Default)]
pub struct LatencyLog {
    slots: Vec<u32>,
    values: Vec<f64>,
}

impl LatencyLog {
    /// Logs one latency of local group `slot`.
    #[inline]
    pub fn push(&mut self, slot: u32, value: f64) {
        self.slots.push(slot);
        self.values.push(value);
    }
}

/// `[mean, p50, p95, max]` per group, `None` for a group without latencies.
pub type Stats = [Option<f64>; 4];

/// Statistics per global group. `logs[p]` is worker `p`'s log and `remaps[p]` the global
/// group of each of its local slots; `groups` is the number of global groups.
pub fn stats(logs: Vec<LatencyLog>, remaps: &[Vec<u32>], groups: usize) -> Vec<Stats> {
    // Count per global group, then each worker's first position within each group's slice.
    let mut counts = vec![0usize; groups];
    let local_counts: Vec<Vec<usize>> = logs
        .iter()
        .zip(remaps)
        .map(|(log, remap)| {
            let mut local = vec![0usize; remap.len()];
            for &s in &log.slots {
                local[s as usize] += 1;
            }
            for (slot, &n) in local.iter().enumerate() {
                counts[remap[slot] as usize] += n;
            }
            local
        })
        .collect();
    let mut offsets = Vec::with_capacity(groups + 1);
    let mut total = 0;
    for &n in &counts {
        offsets.push(total);
        total += n;
    }
    offsets.push(total);
    let mut cursor = offsets[..groups].to_vec();
    let starts: Vec<Vec<usize>> = local_counts
        .iter()
        .zip(remaps)
        .map(|(local, remap)| {
            local
                .iter()
                .zip(remap)
                .map(|(&n, &g)| {
                    let start = cursor[g as usize];
                    cursor[g as usize] += n;
                    start
                })
                .collect()
        })
        .collect();

    // Workers write disjoint positions; relaxed atomics make that safe without locks.
    let flat: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    logs.par_iter().zip(starts).for_each(|(log, mut next)| {
        for (&s, &v) in log.slots.iter().zip(&log.values) {
            let pos = &mut next[s as usize];
            flat[*pos].store(v.to_bits(), Ordering::Relaxed);
            *pos += 1;
        }
    });
    let mut flat: Vec<f64> = flat
        .into_iter()
        .map(|a| f64::from_bits(a.into_inner()))
        .collect();

    let mut slices = Vec::with_capacity(groups);
    let mut rest = flat.as_mut_slice();
    for &n in &counts {
        let (head, tail) = rest.split_at_mut(n);
        slices.push(head);
        rest = tail;
    }
    slices
        .into_par_iter()
        .map(|values| {
            if values.is_empty() {
                return [None; 4];
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let max = values.iter().copied().max_by(f64::total_cmp);
            let p50 = quantile(values, 0.5);
            let p95 = quantile(values, 0.95);
            [Some(mean), Some(p50), Some(p95), max]
        })
        .collect()
}

/// Linear-interpolated quantile `q` of `values` (reordered in place), as numpy's default.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut low, upper) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let frac = pos - lo as f64;
    if frac == 0.0 {
        return low;
    }
    let high = upper
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .expect("frac > 0 implies a next value");
    low + (high - low) * frac
}
