//! Bulk re-pricing: the cost of each row under a catalog, identical to
//! [`Catalog::price`](crate::pricing::Catalog::price) but without resolving the price version
//! per row.
//!
//! A model's price versions and mode variants switch on at UTC day boundaries (`from_day`) or
//! daily times of day (`daily`). Between consecutive switch points nothing changes, so each
//! (model, mode) is compiled once into its switch points and, per segment between them, the
//! rate of each bucket as `Catalog::price` would resolve it. A row then costs two short binary
//! searches and eight multiplications.
//!
//! The compiled tables are flat and small: a 20-byte head per pair, one array of switch points,
//! one of 80-byte segments. A bulk re-pricing goes further and looks each row's segment up in
//! a per-day table (`days.rs`), which spares the head and the binary search.

use crate::pricing::{Catalog, PriceKey, Rate, When, BUCKET_KEYS, INPUT_BUCKETS};
use crate::Error;

pub(crate) const US_PER_DAY: i64 = 86_400_000_000;

/// The rates of one segment, one per bucket, resolved.
#[derive(Debug, Clone)]
struct RateRow {
    buckets: [Option<Rate>; 8],
    request: Option<Rate>,
}

/// What a row's cost needs of a segment without tiers: its base rates (0 where a bucket has
/// none) and request fee, for a branch-free sum.
#[derive(Debug, Clone, Copy)]
struct Segment {
    base: [i64; 8],
    request: i64,
    /// Whether a rate has tiers: then the cost reads the segment's full rates.
    tiered: bool,
}

/// Where a pair's switch points and segments are in the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Head {
    /// First of the pair's days in `Repricer::days`, and how many.
    days: (u32, u32),
    /// First of the pair's times in `Repricer::times`, and how many.
    times: (u32, u32),
    /// First of the pair's segments: (day segment, time segment), row-major.
    segments: u32,
}

/// A catalog compiled for the (model, mode) pairs a ledger uses.
#[derive(Debug, Clone)]
pub struct Repricer {
    heads: Vec<Head>,
    /// Days (since the epoch) on which something switches, ascending per pair.
    days: Vec<i64>,
    /// Times of day (µs) at which something switches, ascending per pair.
    times: Vec<i64>,
    segments: Vec<Segment>,
    /// The full rates of each segment, for tiers and discounts.
    full: Vec<RateRow>,
}

impl Repricer {
    /// Compiles `pairs` of (model index, mode index or `None` for standard) from `catalog`;
    /// rows later name a pair by its position in `pairs`.
    pub fn new(catalog: &Catalog, pairs: &[(u32, Option<u32>)]) -> Result<Self, Error> {
        let mut r = Repricer {
            heads: Vec::with_capacity(pairs.len()),
            days: Vec::new(),
            times: Vec::new(),
            segments: Vec::new(),
            full: Vec::new(),
        };
        for &(m, mode) in pairs {
            r.compile(catalog, m as usize, mode)?;
        }
        Ok(r)
    }

    /// Cost in pico-USD of `tokens` priced with pair `pair` at `ts_us`, less `discount_ppm`.
    /// Equal to `Catalog::price(..).total` for non-negative token counts.
    #[inline]
    pub fn cost(
        &self,
        pair: u32,
        ts_us: i64,
        tokens: &[i64; 8],
        discount_ppm: u32,
    ) -> Result<i64, Error> {
        let head = &self.heads[pair as usize];
        let day = self.day_index(head, ts_us.div_euclid(US_PER_DAY));
        let (t0, tn) = (head.times.0 as usize, head.times.1 as usize);
        let time = if tn == 0 {
            0
        } else {
            self.times[t0..t0 + tn].partition_point(|&t| t <= ts_us.rem_euclid(US_PER_DAY))
        };
        let index = head.segments + (day * (tn + 1) + time) as u32;
        self.segment_cost(index, tokens, discount_ppm)
    }

    /// The segment of pair `pair` in force all through UTC day `day` (days since the epoch),
    /// or `None` when the pair's price changes within days (a time-of-day price).
    pub fn day_segment(&self, pair: u32, day: i64) -> Option<u32> {
        let head = &self.heads[pair as usize];
        if head.times.1 != 0 {
            return None;
        }
        Some(head.segments + self.day_index(head, day) as u32)
    }

    /// How many of the pair's switch days are on or before `day`: its day segment.
    #[inline]
    fn day_index(&self, head: &Head, day: i64) -> usize {
        let (d0, dn) = (head.days.0 as usize, head.days.1 as usize);
        self.days[d0..d0 + dn].partition_point(|&d| d <= day)
    }

    /// Cost in pico-USD of `tokens` priced by segment `index` (of [`Repricer::day_segment`]),
    /// less `discount_ppm`.
    #[inline]
    pub fn segment_cost(
        &self,
        index: u32,
        tokens: &[i64; 8],
        discount_ppm: u32,
    ) -> Result<i64, Error> {
        let segment = &self.segments[index as usize];
        if !segment.tiered && discount_ppm == 0 {
            let total = tokens
                .iter()
                .zip(&segment.base)
                .fold(i128::from(segment.request), |sum, (&t, &r)| {
                    sum + i128::from(t) * i128::from(r)
                });
            return i64::try_from(total).map_err(|_| Error::Overflow);
        }
        let row = &self.full[index as usize];
        let total_input = INPUT_BUCKETS.iter().map(|&b| tokens[b] as u64).sum::<u64>();
        let mut total = match &row.request {
            Some(rate) => discounted(i128::from(rate.select(total_input).0), discount_ppm)?,
            None => 0,
        };
        for (t, rate) in tokens.iter().zip(&row.buckets) {
            if let Some(rate) = rate {
                let cost = discounted(
                    i128::from(*t) * i128::from(rate.select(total_input).0),
                    discount_ppm,
                )?;
                // Not `ok_or(Error::Overflow)`: that builds the error on every bucket and
                // drops it, a call to its drop glue per priced bucket (0.7% of a profile).
                let Some(sum) = total.checked_add(cost) else {
                    return Err(Error::Overflow);
                };
                total = sum;
            }
        }
        Ok(total)
    }

    /// Appends the switch points and segments of (model, mode).
    fn compile(&mut self, catalog: &Catalog, model: usize, mode: Option<u32>) -> Result<(), Error> {
        let pricing = catalog.models.get(model).ok_or(Error::NoSuchModel(model))?;
        let whens = pricing
            .versions
            .iter()
            .map(|v| v.when)
            .chain(
                pricing
                    .variants
                    .iter()
                    .filter(|v| Some(v.mode) == mode)
                    .map(|v| v.when),
            )
            .flatten();
        let (mut days, mut times) = (Vec::new(), Vec::new());
        for w in whens {
            match w {
                When::FromDay(d) => days.push(d),
                When::Daily(a, b) => {
                    times.extend([i64::from(a) * 1_000_000, i64::from(b) * 1_000_000]);
                }
            }
        }
        for v in [&mut days, &mut times] {
            v.sort_unstable();
            v.dedup();
        }
        self.heads.push(Head {
            days: (self.days.len() as u32, days.len() as u32),
            times: (self.times.len() as u32, times.len() as u32),
            segments: self.segments.len() as u32,
        });
        // A representative instant of each segment: its first day and first time of day.
        let day_reps: Vec<i64> = std::iter::once(days.first().map_or(0, |d| d - 1))
            .chain(days.iter().copied())
            .collect();
        let time_reps: Vec<i64> = std::iter::once(0).chain(times.iter().copied()).collect();
        for &day in &day_reps {
            for &time in &time_reps {
                let (_, resolved, _) = pricing.resolve(day * US_PER_DAY + time, mode);
                let buckets =
                    BUCKET_KEYS.map(|keys| keys.iter().find_map(|&k| resolved.get(k)).cloned());
                let request = resolved.get(PriceKey::Requests).cloned();
                self.segments.push(Segment {
                    base: buckets.each_ref().map(|r| r.as_ref().map_or(0, |r| r.base)),
                    request: request.as_ref().map_or(0, |r| r.base),
                    tiered: buckets
                        .iter()
                        .chain([&request])
                        .flatten()
                        .any(|r| !r.tiers.is_empty()),
                });
                self.full.push(RateRow { buckets, request });
            }
        }
        self.days.extend(days);
        self.times.extend(times);
        Ok(())
    }
}

/// `cost * (1 - ppm / 1e6)` rounded half to even, as `Catalog::price` does.
fn discounted(cost: i128, discount_ppm: u32) -> Result<i64, Error> {
    let cost = if discount_ppm == 0 {
        cost
    } else {
        let num = cost * i128::from(1_000_000 - discount_ppm);
        let (q, r) = (num.div_euclid(1_000_000), num.rem_euclid(1_000_000));
        match (2 * r).cmp(&1_000_000) {
            std::cmp::Ordering::Less => q,
            std::cmp::Ordering::Greater => q + 1,
            std::cmp::Ordering::Equal => q + (q & 1),
        }
    };
    i64::try_from(cost).map_err(|_| Error::Overflow)
}
