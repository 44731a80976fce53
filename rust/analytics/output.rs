//! Per-group accumulators and the Arrow record batch a rollup returns.
//!
//! Money is summed exactly in i128 pico-USD and leaves as Decimal128(38, 12) USD, whose
//! unscaled value *is* pico-USD: no conversion, no rounding.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema};

use super::encode::KeyValue;
use super::latency::Stats;
use super::timebucket::Zone;
use crate::pricing::BUCKETS;
use crate::Error;

/// Sums of one group.
#[derive(Debug, Default, Clone)]
pub struct Group {
    calls: i64,
    unpriced: i64,
    cost: i128,
    tokens: [i64; 8],
    repriced: i128,
    repriced_unpriced: i64,
}

impl Group {
    /// Adds one row.
    #[inline]
    pub fn add(&mut self, tokens: &[i64; 8], cost: Option<i64>, repriced: Option<Option<i64>>) {
        self.calls += 1;
        match cost {
            Some(c) => self.cost += i128::from(c),
            None => self.unpriced += 1,
        }
        for (sum, t) in self.tokens.iter_mut().zip(tokens) {
            *sum += t;
        }
        match repriced {
            Some(Some(c)) => self.repriced += i128::from(c),
            Some(None) => self.repriced_unpriced += 1,
            None => {}
        }
    }

    /// Adds another partial sum of the same group.
    pub fn merge(&mut self, other: &Group) {
        self.calls += other.calls;
        self.unpriced += other.unpriced;
        self.cost += other.cost;
        for (sum, t) in self.tokens.iter_mut().zip(other.tokens) {
            *sum += t;
        }
        self.repriced += other.repriced;
        self.repriced_unpriced += other.repriced_unpriced;
    }
}

/// A finished key column.
pub struct KeyOut(Field, ArrayRef);

impl KeyOut {
    /// A key column from distinct values (strings, integers or null).
    pub fn values<'a>(name: &str, values: impl Iterator<Item = &'a KeyValue>) -> KeyOut {
        let values: Vec<&KeyValue> = values.collect();
        if values.iter().any(|v| matches!(v, KeyValue::Int(_))) {
            let a = Int64Array::from_iter(values.iter().map(|v| match v {
                KeyValue::Int(i) => Some(*i),
                _ => None,
            }));
            return KeyOut(Field::new(name, DataType::Int64, true), Arc::new(a));
        }
        let mut b = StringBuilder::new();
        for v in values {
            match v {
                KeyValue::Str(s) => b.append_value(s),
                _ => b.append_null(),
            }
        }
        KeyOut(Field::new(name, DataType::Utf8, true), Arc::new(b.finish()))
    }

    /// A time-bucket column: bucket starts as timestamps in `zone`.
    pub fn time(name: &str, zone: &Zone, starts: impl Iterator<Item = i64>) -> KeyOut {
        let a = TimestampMicrosecondArray::from_iter_values(starts).with_timezone(zone.name());
        KeyOut(Field::new(name, a.data_type().clone(), false), Arc::new(a))
    }
}

fn money(
    name: &str,
    values: impl Iterator<Item = Option<i128>>,
) -> Result<(Field, ArrayRef), Error> {
    let a = Decimal128Array::from_iter(values)
        .with_precision_and_scale(38, 12)
        .map_err(|e| Error::Argument(e.to_string()))?;
    Ok((Field::new(name, a.data_type().clone(), true), Arc::new(a)))
}

fn ints(name: &str, values: impl Iterator<Item = i64>) -> (Field, ArrayRef) {
    (
        Field::new(name, DataType::Int64, false),
        Arc::new(Int64Array::from_iter_values(values)),
    )
}

/// The result batch: keys, then `calls`, `unpriced_calls`, `cost`, the buckets, and when
/// re-priced `repriced_cost`, `repriced_unpriced_calls` and `cost_difference`, then latency.
pub fn batch(
    keys: Vec<KeyOut>,
    groups: Vec<Group>,
    stats: Vec<Stats>,
    repriced: bool,
) -> Result<RecordBatch, Error> {
    let recorded = |g: &Group| (g.unpriced < g.calls).then_some(g.cost);
    let repriced_sum = |g: &Group| (g.repriced_unpriced < g.calls).then_some(g.repriced);

    let mut cols: Vec<(Field, ArrayRef)> = keys.into_iter().map(|KeyOut(f, a)| (f, a)).collect();
    cols.push(ints("calls", groups.iter().map(|g| g.calls)));
    cols.push(ints("unpriced_calls", groups.iter().map(|g| g.unpriced)));
    cols.push(money("cost", groups.iter().map(recorded))?);
    for (b, name) in BUCKETS.iter().enumerate() {
        cols.push(ints(name, groups.iter().map(|g| g.tokens[b])));
    }
    if repriced {
        cols.push(money("repriced_cost", groups.iter().map(repriced_sum))?);
        cols.push(ints(
            "repriced_unpriced_calls",
            groups.iter().map(|g| g.repriced_unpriced),
        ));
        cols.push(money(
            "cost_difference",
            groups.iter().map(|g| Some(repriced_sum(g)? - recorded(g)?)),
        )?);
    }
    for (s, name) in [
        "latency_ms_mean",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_max",
    ]
    .iter()
    .enumerate()
    {
        let a = Float64Array::from_iter(stats.iter().map(|st| st[s]));
        cols.push((Field::new(*name, DataType::Float64, true), Arc::new(a)));
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Argument(e.to_string()))
}
