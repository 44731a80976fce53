//! A per-day table of each route's price segment, so that most rows are priced by one
//! look-up.

use super::{RateCodes, US_PER_DAY};
use crate::analytics::input::{Cols, RowRange};

/// A [`DayTable`] entry: the route leaves the row unpriced all day.
pub(super) const UNPRICED_DAY: u32 = u32::MAX;
/// A [`DayTable`] entry: the route's price changes within the day, or carries a discount;
/// the row takes the full look-up.
pub(super) const SLOW: u32 = u32::MAX - 1;

/// Most entries a [`DayTable`] is built with (a quarter of a MiB).
const DAY_TABLE_ENTRIES: usize = 1 << 16;

/// Each route's segment on each UTC day that a run of row ranges spans, so that a row's price
/// is one look-up in a small table instead of a route, a pair and a binary search in turn (a
/// chain of dependent reads, most of the time re-pricing took). A ledger is kept in time
/// order, so a run spans a day or two; one that spans too many gets no table. A table per
/// run, not per range: a ledger of small batches has a range per batch, and building the
/// table for each would cost about as much as pricing its rows.
pub(super) struct DayTable {
    first_day: i64,
    routes: usize,
    /// Segment (or [`UNPRICED_DAY`] or [`SLOW`]) of route `r` on day `first_day + d` at
    /// `d * routes + r`.
    entries: Vec<u32>,
}

impl DayTable {
    pub(super) fn new(codes: &RateCodes, run: &[RowRange], cols: &[Cols]) -> Option<DayTable> {
        let (lo, hi) = run
            .iter()
            .flat_map(|r| (r.start..r.end).map(|i| cols[r.batch].at.raw(i)))
            .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let (first_day, last_day) = (lo.div_euclid(US_PER_DAY), hi.div_euclid(US_PER_DAY));
        let routes = &codes.rates.routes;
        let days = (last_day - first_day + 1) as usize; // a range holds rows: lo <= hi
        if days * routes.len() > DAY_TABLE_ENTRIES {
            return None;
        }
        let mut entries = Vec::with_capacity(days * routes.len());
        for day in first_day..=last_day {
            // Saturating: the first and last days of i64 microseconds are cut short.
            let (start, end) = (
                day.saturating_mul(US_PER_DAY),
                (day + 1).saturating_mul(US_PER_DAY),
            );
            entries.extend(routes.iter().map(|route| {
                let rate = if start >= route.from_us {
                    route.main
                } else if end <= route.from_us {
                    route.before
                } else {
                    return SLOW; // the route switches during the day
                };
                match rate {
                    None => UNPRICED_DAY,
                    Some((pair, 0)) => codes.rates.repricer.day_segment(pair, day).unwrap_or(SLOW),
                    Some(_) => SLOW,
                }
            }));
        }
        Some(DayTable {
            first_day,
            routes: routes.len(),
            entries,
        })
    }

    #[inline]
    pub(super) fn entry(&self, route: usize, ts: i64) -> u32 {
        let day = (ts.div_euclid(US_PER_DAY) - self.first_day) as usize;
        self.entries[day * self.routes + route]
    }
}
