//! Time buckets: hour, day or month, in UTC, a fixed offset or an IANA time zone.
//!
//! The buckets a ledger spans are listed once as their start instants (a few thousand at
//! most); each row then finds its bucket by arithmetic (fixed offsets, hours and days) or a
//! binary search in that list (months, and zones whose offset changes).

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use crate::Error;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_HOUR: i64 = 3_600 * US_PER_SEC;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// The width of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Hours of local time.
    Hour,
    /// Local calendar days.
    Day,
    /// Local calendar months.
    Month,
}

impl FromStr for Unit {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "hour" => Ok(Unit::Hour),
            "day" => Ok(Unit::Day),
            "month" => Ok(Unit::Month),
            other => Err(Error::Argument(format!(
                "bucket must be hour, day or month, not {other:?}"
            ))),
        }
    }
}

/// A time zone: a fixed offset from UTC, or an IANA zone.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// A fixed offset (UTC is +00:00).
    Fixed(FixedOffset),
    /// An IANA zone with its rules.
    Iana(Tz),
}

impl FromStr for Zone {
    type Err = Error;

    /// `"UTC"`, an offset such as `"+05:30"`, or an IANA name such as `"Europe/Paris"`.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        if let Ok(off) = FixedOffset::from_str(s) {
            return Ok(Zone::Fixed(off));
        }
        Tz::from_str(s)
            .map(Zone::Iana)
            .map_err(|_| Error::Argument(format!("unknown time zone {s:?}")))
    }
}

impl Zone {
    /// The zone bucket starts are labelled with: the IANA name, or `"UTC"` for a fixed
    /// offset (Polars reads only tz-database names; the instants are the same).
    pub fn name(&self) -> String {
        match self {
            Zone::Fixed(_) => "UTC".into(),
            Zone::Iana(tz) => tz.name().into(),
        }
    }

    fn local(&self, ts_us: i64) -> NaiveDateTime {
        let utc = DateTime::from_timestamp_micros(ts_us).expect("timestamp in chrono's range");
        match self {
            Zone::Fixed(off) => utc.with_timezone(off).naive_local(),
            Zone::Iana(tz) => utc.with_timezone(tz).naive_local(),
        }
    }

    /// The first instant whose local time is `local` or, in a DST gap, the gap's end.
    fn instant(&self, local: NaiveDateTime) -> i64 {
        let mut probe = local;
        loop {
            let found = match self {
                Zone::Fixed(off) => map_local(off.from_local_datetime(&probe)),
                Zone::Iana(tz) => map_local(tz.from_local_datetime(&probe)),
            };
            if let Some(ts) = found {
                return ts;
            }
            // Gaps are whole multiples of 15 minutes in the tz database.
            probe += chrono::Duration::minutes(15);
        }
    }
}

fn map_local<T: TimeZone>(r: LocalResult<DateTime<T>>) -> Option<i64> {
    r.earliest().map(|d| d.timestamp_micros())
}

/// The buckets spanning a range of instants.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// Start instant (µs since the epoch, UTC) of each bucket, ascending.
    pub starts: Vec<i64>,
    /// `Some((offset_us, width_us))` when the bucket of `ts` is `(ts + offset) / width` minus the
    /// first bucket's: fixed offsets, hours and days.
    arithmetic: Option<(i64, i64, i64)>,
}

impl Buckets {
    /// The buckets covering `[min_us, max_us]`.
    pub fn new(unit: Unit, zone: Zone, min_us: i64, max_us: i64) -> Self {
        if min_us > max_us {
            return Buckets {
                starts: Vec::new(),
                arithmetic: None,
            };
        }
        if let (Zone::Fixed(off), Unit::Hour | Unit::Day) = (zone, unit) {
            let offset = i64::from(off.local_minus_utc()) * US_PER_SEC;
            let width = if unit == Unit::Hour {
                US_PER_HOUR
            } else {
                US_PER_DAY
            };
            let first = (min_us + offset).div_euclid(width);
            let last = (max_us + offset).div_euclid(width);
            let starts = (first..=last).map(|b| b * width - offset).collect();
            return Buckets {
                starts,
                arithmetic: Some((offset, width, first)),
            };
        }
        if unit == Unit::Hour {
            return Buckets {
                starts: local_hours(zone, min_us, max_us),
                arithmetic: None,
            };
        }
        let mut starts = Vec::new();
        let mut local = truncate(zone.local(min_us), unit);
        loop {
            let start = zone.instant(local);
            if start > max_us {
                break;
            }
            starts.push(start);
            local = next(local, unit);
        }
        Buckets {
            starts,
            arithmetic: None,
        }
    }

    /// The index of the bucket holding `ts_us`. Instants outside the range given to
    /// [`Buckets::new`] (rows a filter drops) get the nearest bucket.
    #[inline]
    pub fn index(&self, ts_us: i64) -> u32 {
        let last = self.starts.len().saturating_sub(1) as i64;
        let i = match self.arithmetic {
            Some((offset, width, first)) => (ts_us + offset).div_euclid(width) - first,
            None => self.starts.partition_point(|&s| s <= ts_us) as i64 - 1,
        };
        i.clamp(0, last) as u32
    }
}

/// Instants where local time is on the hour, covering `[min_us, max_us]`. Offsets are whole
/// multiples of 15 minutes, so stepping by 15 minutes in UTC finds every one, including the
/// repeated hour when clocks go back.
fn local_hours(zone: Zone, min_us: i64, max_us: i64) -> Vec<i64> {
    const STEP: i64 = 15 * 60 * US_PER_SEC;
    let mut starts: Vec<i64> = Vec::new();
    let mut t = (min_us - US_PER_HOUR).div_euclid(STEP) * STEP;
    while t <= max_us {
        if zone.local(t).minute() == 0 {
            if starts.len() > 1 && starts[1] <= min_us {
                starts.remove(0);
            }
            starts.push(t);
        }
        t += STEP;
    }
    if starts.len() > 1 && starts[1] <= min_us {
        starts.remove(0);
    }
    starts
}

fn truncate(t: NaiveDateTime, unit: Unit) -> NaiveDateTime {
    let date = t.date();
    match unit {
        Unit::Hour => date.and_hms_opt(t.hour(), 0, 0),
        Unit::Day => date.and_hms_opt(0, 0, 0),
        Unit::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
    }
    .expect("valid local time")
}

fn next(t: NaiveDateTime, unit: Unit) -> NaiveDateTime {
    match unit {
        Unit::Hour => t + chrono::Duration::hours(1),
        Unit::Day => t + chrono::Duration::days(1),
        Unit::Month => {
            let (y, m) = if t.month() == 12 {
                (t.year() + 1, 1)
            } else {
                (t.year(), t.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("first of month")
        }
    }
}
