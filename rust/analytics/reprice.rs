//! Bulk re-pricing: the cost of each row under a catalog, identical to
//! [`Catalog::price`](crate::pricing::Catalog::price) but without resolving the price version
//! per row.
//!
//! A model's price versions and mode variants switch on at UTC day boundaries (`from_day`) or
//! daily times of day (`daily`). Between consecutive switch points nothing changes, so each
//! (model, mode) is compiled once into its switch points and, per segment between them, the
//! rate of each bucket as `Catalog::price` would resolve it. A row then costs two short binary
//! searches and eight multiplications.

use crate::pricing::{Catalog, PriceKey, Rate, When, BUCKET_KEYS, INPUT_BUCKETS};
use crate::Error;

const US_PER_DAY: i64 = 86_400_000_000;

/// The rates of one segment, one per bucket, resolved.
#[derive(Debug, Clone)]
struct RateRow {
    buckets: [Option<Rate>; 8],
    request: Option<Rate>,
    tiered: bool,
}

/// One (model, mode) compiled to its switch points.
#[derive(Debug, Clone)]
struct Plan {
    /// Days (since the epoch) on which something switches, ascending.
    days: Vec<i64>,
    /// Times of day (µs) at which something switches, ascending.
    times: Vec<i64>,
    /// Rate row of each (day segment, time segment), row-major.
    rows: Vec<RateRow>,
}

/// A catalog compiled for the (model, mode) pairs a ledger uses.
#[derive(Debug, Clone)]
pub struct Repricer {
    plans: Vec<Plan>,
}

impl Repricer {
    /// Compiles `pairs` of (model index, mode index or `None` for standard) from `catalog`;
    /// rows later name a pair by its position in `pairs`.
    pub fn new(catalog: &Catalog, pairs: &[(u32, Option<u32>)]) -> Result<Self, Error> {
        let plans = pairs
            .iter()
            .map(|&(m, mode)| compile(catalog, m as usize, mode))
            .collect::<Result<_, _>>()?;
        Ok(Repricer { plans })
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
        let plan = &self.plans[pair as usize];
        let day = plan
            .days
            .partition_point(|&d| d <= ts_us.div_euclid(US_PER_DAY));
        let time = if plan.times.is_empty() {
            0
        } else {
            plan.times
                .partition_point(|&t| t <= ts_us.rem_euclid(US_PER_DAY))
        };
        let row = &plan.rows[day * (plan.times.len() + 1) + time];
        if !row.tiered && discount_ppm == 0 {
            let mut total = row.request.as_ref().map_or(0, |r| i128::from(r.base));
            for (t, rate) in tokens.iter().zip(&row.buckets) {
                if let Some(rate) = rate {
                    total += i128::from(*t) * i128::from(rate.base);
                }
            }
            return i64::try_from(total).map_err(|_| Error::Overflow);
        }
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
                total = total.checked_add(cost).ok_or(Error::Overflow)?;
            }
        }
        Ok(total)
    }
}

fn compile(catalog: &Catalog, model: usize, mode: Option<u32>) -> Result<Plan, Error> {
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
            When::Daily(a, b) => times.extend([i64::from(a) * 1_000_000, i64::from(b) * 1_000_000]),
        }
    }
    for v in [&mut days, &mut times] {
        v.sort_unstable();
        v.dedup();
    }
    // A representative instant of each segment: its first day and first time of day.
    let day_reps: Vec<i64> = std::iter::once(days.first().map_or(0, |d| d - 1))
        .chain(days.iter().copied())
        .collect();
    let time_reps: Vec<i64> = std::iter::once(0).chain(times.iter().copied()).collect();
    let mut rows = Vec::with_capacity(day_reps.len() * time_reps.len());
    for &day in &day_reps {
        for &time in &time_reps {
            let (_, resolved, _) = pricing.resolve(day * US_PER_DAY + time, mode);
            let buckets =
                BUCKET_KEYS.map(|keys| keys.iter().find_map(|&k| resolved.get(k)).cloned());
            let request = resolved.get(PriceKey::Requests).cloned();
            let tiered = buckets
                .iter()
                .chain([&request])
                .flatten()
                .any(|r| !r.tiers.is_empty());
            rows.push(RateRow {
                buckets,
                request,
                tiered,
            });
        }
    }
    Ok(Plan { days, times, rows })
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
