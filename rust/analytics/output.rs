//! The Arrow record batch a rollup returns.
//!
//! Money is summed exactly in i128 pico-USD and leaves as Decimal128(38, 12) USD, whose
//! unscaled value *is* pico-USD: no conversion, no rounding.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, LargeListArray, RecordBatch,
    TimestampMicrosecondArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;

use super::aggregate::{Latency, Sums};
use super::encode::KeyValue;
use super::latency::{Stats, Values};
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

const STAT_NAMES: [&str; 4] = [
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_max",
];

/// Statistic `s` of [`STAT_NAMES`] as a column, one row per stats.
fn stat_column<'a>(s: usize, stats: impl Iterator<Item = &'a Stats>) -> (Field, ArrayRef) {
    let a: ArrayRef = Arc::new(Float64Array::from_iter(stats.map(|st| st[s])));
    (Field::new(STAT_NAMES[s], DataType::Float64, true), a)
}

/// The latency statistics of each row of `batches`, whose first column holds lists of
/// latencies (`LargeList<Float64>`, as Polars hands them over).
pub fn latency_stats(batches: &[RecordBatch]) -> Result<RecordBatch, Error> {
    let mut values = Vec::new();
    let mut offsets = vec![0usize];
    for b in batches {
        let column = b
            .columns()
            .first()
            .ok_or_else(|| Error::Argument("latency_stats: no column".into()))?;
        let lists = column.as_list_opt::<i64>().ok_or_else(|| {
            Error::ColumnType("latency_ms_values".into(), column.data_type().to_string())
        })?;
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let list = lists.value(i);
                let floats = list.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                    Error::ColumnType("latency_ms_values".into(), list.data_type().to_string())
                })?;
                values.extend(floats.iter().flatten());
            }
            offsets.push(values.len());
        }
    }
    let stats = super::latency::stats_of(&mut values, &offsets);
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        (0..4).map(|s| stat_column(s, stats.iter())).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Argument(e.to_string()))
}

/// `latency_ms_values`: each group's latencies in row order, for groups `order`.
fn value_column(v: &Values, order: &[usize]) -> (Field, ArrayRef) {
    let mut offsets = Vec::with_capacity(order.len() + 1);
    let mut values = Vec::new();
    offsets.push(0i64);
    for &g in order {
        values.extend_from_slice(&v.values[v.offsets[g]..v.offsets[g + 1]]);
        offsets.push(values.len() as i64);
    }
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    let a = LargeListArray::new(
        Arc::clone(&item),
        OffsetBuffer::new(offsets.into()),
        Arc::new(Float64Array::from(values)),
        None,
    );
    (
        Field::new("latency_ms_values", DataType::LargeList(item), false),
        Arc::new(a),
    )
}

/// Builds one result column.
type Job<'a> = Box<dyn Fn() -> Result<(Field, ArrayRef), Error> + Send + Sync + 'a>;

/// The result batch of groups `order`: keys, then `calls`, `unpriced_calls`, `cost`, the
/// buckets, and when re-priced `repriced_cost`, `repriced_unpriced_calls` and
/// `cost_difference`, then latency statistics. Each column is its own pass over the groups
/// (of fresh memory): with hundreds of thousands of groups, building them on every core
/// halves the time.
pub fn batch(keys: Vec<KeyOut>, sums: &Sums, order: &[usize]) -> Result<RecordBatch, Error> {
    let counts = |g: usize| &sums.counts[g];
    let recorded = move |g: usize| {
        let c = counts(g);
        (c.unpriced < c.calls).then_some(c.cost)
    };
    let repriced = move |g: usize| {
        let c = counts(g);
        (c.repriced_unpriced < c.calls).then_some(c.repriced)
    };
    let mut jobs: Vec<Job> = vec![
        Box::new(move || Ok(ints("calls", order.iter().map(|&g| counts(g).calls)))),
        Box::new(move || {
            Ok(ints(
                "unpriced_calls",
                order.iter().map(|&g| counts(g).unpriced),
            ))
        }),
        Box::new(move || money("cost", order.iter().map(|&g| recorded(g)))),
    ];
    for (b, name) in BUCKETS.iter().enumerate() {
        jobs.push(Box::new(move || {
            Ok(ints(name, order.iter().map(|&g| sums.tokens[b][g])))
        }));
    }
    if sums.repriced {
        jobs.push(Box::new(move || {
            money("repriced_cost", order.iter().map(|&g| repriced(g)))
        }));
        jobs.push(Box::new(move || {
            Ok(ints(
                "repriced_unpriced_calls",
                order.iter().map(|&g| counts(g).repriced_unpriced),
            ))
        }));
        jobs.push(Box::new(move || {
            money(
                "cost_difference",
                order.iter().map(|&g| Some(repriced(g)? - recorded(g)?)),
            )
        }));
    }
    match &sums.latency {
        Latency::Stats(stats) => {
            for s in 0..4 {
                jobs.push(Box::new(move || {
                    Ok(stat_column(s, order.iter().map(|&g| &stats[g])))
                }));
            }
        }
        Latency::Values(v) => jobs.push(Box::new(move || Ok(value_column(v, order)))),
        Latency::Sums(s) => {
            jobs.push(Box::new(move || {
                let a = Float64Array::from_iter_values(order.iter().map(|&g| s.sum_ms(g)));
                let f = Field::new("latency_ms_sum", DataType::Float64, false);
                Ok((f, Arc::new(a) as ArrayRef))
            }));
            jobs.push(Box::new(move || {
                Ok(ints(
                    "latency_calls",
                    order.iter().map(|&g| s.count[g] as i64),
                ))
            }));
            jobs.push(Box::new(move || {
                let a = Float64Array::from_iter(order.iter().map(|&g| s.max[g]));
                let f = Field::new("latency_ms_max", DataType::Float64, true);
                Ok((f, Arc::new(a) as ArrayRef))
            }));
        }
    }
    let mut cols: Vec<(Field, ArrayRef)> = keys.into_iter().map(|KeyOut(f, a)| (f, a)).collect();
    cols.extend(
        jobs.par_iter()
            .map(|job| job())
            .collect::<Result<Vec<_>, Error>>()?,
    );
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Argument(e.to_string()))
}
