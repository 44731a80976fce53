//! The Arrow record batch a rollup returns.
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

use super::aggregate::Sums;
use super::encode::KeyValue;
use super::timebucket::Zone;
use crate::pricing::BUCKETS;
use crate::Error;

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

/// The result batch of groups `order`: keys, then `calls`, `unpriced_calls`, `cost`, the
/// buckets, and when re-priced `repriced_cost`, `repriced_unpriced_calls` and
/// `cost_difference`, then latency statistics.
pub fn batch(keys: Vec<KeyOut>, sums: &Sums, order: &[usize]) -> Result<RecordBatch, Error> {
    let recorded = |g: usize| (sums.unpriced[g] < sums.calls[g]).then_some(sums.cost[g]);
    let mut cols: Vec<(Field, ArrayRef)> = keys.into_iter().map(|KeyOut(f, a)| (f, a)).collect();
    cols.push(ints("calls", order.iter().map(|&g| sums.calls[g])));
    cols.push(ints(
        "unpriced_calls",
        order.iter().map(|&g| sums.unpriced[g]),
    ));
    cols.push(money("cost", order.iter().map(|&g| recorded(g)))?);
    for (b, name) in BUCKETS.iter().enumerate() {
        cols.push(ints(name, order.iter().map(|&g| sums.tokens[b][g])));
    }
    if let Some((cost, unpriced)) = &sums.repriced {
        let repriced = |g: usize| (unpriced[g] < sums.calls[g]).then_some(cost[g]);
        cols.push(money("repriced_cost", order.iter().map(|&g| repriced(g)))?);
        cols.push(ints(
            "repriced_unpriced_calls",
            order.iter().map(|&g| unpriced[g]),
        ));
        cols.push(money(
            "cost_difference",
            order.iter().map(|&g| Some(repriced(g)? - recorded(g)?)),
        )?);
    }
    let names = [
        "latency_ms_mean",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_max",
    ];
    for (s, name) in names.iter().enumerate() {
        let a = Float64Array::from_iter(order.iter().map(|&g| sums.latency[g][s]));
        cols.push((Field::new(*name, DataType::Float64, true), Arc::new(a)));
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Argument(e.to_string()))
}
