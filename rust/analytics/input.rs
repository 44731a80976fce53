//! The ledger as the kernels see it: Arrow record batches, split into row ranges for the
//! worker threads, with the numeric columns read as plain slices.
//!
//! Every input type the kernels accept is named here, so normalising what Polars, pyarrow or
//! a database driver hands over happens in one place.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, UInt32Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use crate::pricing::BUCKETS;
use crate::Error;

/// Rows per unit of parallel work: large enough to amortise the per-range hash maps, small
/// enough that two cores share the load evenly.
const RANGE_ROWS: usize = 1 << 18;

/// A contiguous slice of one batch, the unit of parallel work.
#[derive(Debug, Clone, Copy)]
pub struct RowRange {
    /// Batch index.
    pub batch: usize,
    /// First row in the batch.
    pub start: usize,
    /// One past the last row in the batch.
    pub end: usize,
    /// Index of `start` among all rows of the ledger.
    pub global: usize,
}

impl RowRange {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the range holds no row.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Consecutive row ranges grouped into runs of at least [`RANGE_ROWS`] rows (the last run may
/// hold fewer): units for work that has a fixed cost per unit, so that a ledger of many small
/// batches (a range each) pays it per run of them rather than per batch.
pub fn runs(ranges: &[RowRange]) -> Vec<&[RowRange]> {
    let mut runs = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, r) in ranges.iter().enumerate() {
        rows += r.len();
        if rows >= RANGE_ROWS {
            runs.push(&ranges[start..=i]);
            (start, rows) = (i + 1, 0);
        }
    }
    if start < ranges.len() {
        runs.push(&ranges[start..]);
    }
    runs
}

/// `values` cut into consecutive slices of the given lengths, for parallel writers.
pub fn split_mut<T>(values: &mut [T], lens: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut rest = values;
    lens.map(|n| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
        rest = tail;
        head
    })
    .collect()
}

/// An in-memory ledger: record batches sharing one schema (zero copy from the caller).
#[derive(Debug, Clone)]
pub struct Ledger {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    ranges: Vec<RowRange>,
    rows: usize,
}

impl Ledger {
    /// Wraps `batches`, which must all have `schema`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let mut ranges = Vec::new();
        let mut global = 0;
        for (batch, rb) in batches.iter().enumerate() {
            let n = rb.num_rows();
            for start in (0..n).step_by(RANGE_ROWS) {
                let end = (start + RANGE_ROWS).min(n);
                ranges.push(RowRange {
                    batch,
                    start,
                    end,
                    global: global + start,
                });
            }
            global += n;
        }
        Ledger {
            schema,
            batches,
            ranges,
            rows: global,
        }
    }

    /// Total number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The row ranges, in row order.
    pub fn ranges(&self) -> &[RowRange] {
        &self.ranges
    }

    /// The schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The arrays of column `name`, one per batch.
    pub fn column(&self, name: &str) -> Result<Vec<ArrayRef>, Error> {
        let index = self
            .schema
            .index_of(name)
            .map_err(|_| Error::MissingColumn(name.into()))?;
        Ok(self
            .batches
            .iter()
            .map(|b| Arc::clone(b.column(index)))
            .collect())
    }

    /// Whether the ledger has a column `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.schema.index_of(name).is_ok()
    }

    /// Column `name` as integers per batch: Int64, Int32, UInt32, Timestamp(us) (`at`), or
    /// Decimal128 with scale 12 (a USD amount whose unscaled value is pico-USD).
    pub fn ints(&self, name: &str) -> Result<Vec<IntColumn>, Error> {
        self.column(name)?
            .iter()
            .map(|a| IntColumn::new(name, a))
            .collect()
    }

    /// The per-row inputs of each batch, its time read from `time_column`.
    pub(crate) fn cols(&self, time_column: &str) -> Result<Vec<Cols>, Error> {
        let at = self.ints(time_column)?;
        let tokens: Vec<Vec<IntColumn>> = BUCKETS
            .iter()
            .map(|b| self.ints(b))
            .collect::<Result<_, _>>()?;
        let cost = self.ints("cost")?;
        let latency = if self.has_column("latency_ms") {
            Some(self.floats("latency_ms")?)
        } else {
            None
        };
        Ok((0..at.len())
            .map(|b| Cols {
                at: at[b].clone(),
                tokens: tokens.iter().map(|t| t[b].clone()).collect(),
                cost: cost[b].clone(),
                latency: latency.as_ref().map(|l| l[b].clone()),
            })
            .collect())
    }

    /// Column `name` as Float64 per batch.
    pub fn floats(&self, name: &str) -> Result<Vec<FloatColumn>, Error> {
        self.column(name)?
            .iter()
            .map(|a| match a.data_type() {
                DataType::Float64 => Ok(FloatColumn {
                    values: a.as_primitive::<Float64Type>().values().clone(),
                    nulls: a.nulls().cloned(),
                }),
                other => Err(Error::ColumnType(name.into(), other.to_string())),
            })
            .collect()
    }
}

/// The per-row inputs of one batch that every kernel reads.
pub(crate) struct Cols {
    pub(crate) at: IntColumn,
    pub(crate) tokens: Vec<IntColumn>,
    pub(crate) cost: IntColumn,
    pub(crate) latency: Option<FloatColumn>,
}

/// The values of an integer column, in their stored width (no copy).
#[derive(Debug, Clone)]
enum IntValues {
    I64(ScalarBuffer<i64>),
    I32(ScalarBuffer<i32>),
    U32(ScalarBuffer<u32>),
    /// Decimal128 scale 12: pico-USD.
    I128(ScalarBuffer<i128>),
}

/// An integer column of one batch, whatever its physical width.
#[derive(Debug, Clone)]
pub struct IntColumn {
    values: IntValues,
    nulls: Option<NullBuffer>,
}

impl IntColumn {
    fn new(name: &str, a: &ArrayRef) -> Result<Self, Error> {
        let values = match a.data_type() {
            DataType::Int64 => IntValues::I64(a.as_primitive::<Int64Type>().values().clone()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => IntValues::I64(
                a.as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .clone(),
            ),
            DataType::Int32 => IntValues::I32(a.as_primitive::<Int32Type>().values().clone()),
            DataType::UInt32 => IntValues::U32(a.as_primitive::<UInt32Type>().values().clone()),
            DataType::Decimal128(_, 12) => {
                IntValues::I128(a.as_primitive::<Decimal128Type>().values().clone())
            }
            other => return Err(Error::ColumnType(name.into(), other.to_string())),
        };
        Ok(IntColumn {
            values,
            nulls: a.nulls().cloned(),
        })
    }

    /// The value at `i`, whether null or not (nulls hold an unspecified value).
    #[inline]
    pub fn raw(&self, i: usize) -> i64 {
        match &self.values {
            IntValues::I64(v) => v[i],
            IntValues::I32(v) => i64::from(v[i]),
            IntValues::U32(v) => i64::from(v[i]),
            IntValues::I128(v) => v[i] as i64,
        }
    }

    /// The values as `i64`, when stored so (the common case): hot loops then index a slice
    /// instead of matching the storage type per row.
    #[inline]
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.values {
            IntValues::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value at `i`, or `None` when null.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        self.is_valid(i).then(|| self.raw(i))
    }

    /// Whether the value at `i` is not null.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.nulls.as_ref().is_none_or(|n| n.is_valid(i))
    }
}

/// A Float64 column of one batch.
#[derive(Debug, Clone)]
pub struct FloatColumn {
    values: ScalarBuffer<f64>,
    nulls: Option<NullBuffer>,
}

impl FloatColumn {
    /// The values (nulls hold unspecified ones) and the validity, for hot loops.
    #[inline]
    pub fn parts(&self) -> (&[f64], Option<&NullBuffer>) {
        (&self.values, self.nulls.as_ref())
    }

    /// The value at `i`, or `None` when null.
    #[inline]
    pub fn get(&self, i: usize) -> Option<f64> {
        self.nulls
            .as_ref()
            .is_none_or(|n| n.is_valid(i))
            .then(|| self.values[i])
    }
}
