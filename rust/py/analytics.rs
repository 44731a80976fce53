//! Python bindings of the analytics kernels: Arrow in through the PyCapsule interface, the
//! GIL released while the kernels run, results out as objects with `__arrow_c_stream__`.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Decimal128Array, RecordBatch, StructArray};
use arrow_schema::{Field, Schema};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::ffi::{to_stream_pycapsule, ArrayIterator};
use pyo3_arrow::{PyChunkedArray, PyTable};

use super::Catalog;
use crate::analytics::{self, Key, KeyValue, LatencyOut, Rates, RollupSpec, Route, Unit, Zone};

/// `(from_us, main, before)` of a [`Route`].
type RouteTuple = (i64, Option<(u32, u32)>, Option<(u32, u32)>);
use crate::Error;

/// A ledger held as Arrow record batches (no copy), its key columns encoded on first use.
#[pyclass(frozen, module = "llmledger._core")]
pub struct Ledger(analytics::Table);

/// Compiled re-pricing tables (see `llmledger.analytics`).
#[pyclass(frozen, module = "llmledger._core")]
pub struct Repricing(Rates);

/// A result table; `polars.DataFrame(result)` reads it through `__arrow_c_stream__`.
#[pyclass(frozen, module = "llmledger._core")]
pub struct ArrowResult(RecordBatch);

fn key_to_py(py: Python<'_>, v: &KeyValue) -> PyResult<Py<PyAny>> {
    Ok(match v {
        KeyValue::Null => py.None(),
        KeyValue::Str(s) => s.into_pyobject(py)?.into_any().unbind(),
        KeyValue::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        KeyValue::Tuple(items) => {
            let items = items
                .iter()
                .map(|i| key_to_py(py, i))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
    })
}

fn key_from_py(v: &Bound<'_, PyAny>) -> PyResult<KeyValue> {
    if v.is_none() {
        Ok(KeyValue::Null)
    } else if let Ok(s) = v.extract::<String>() {
        Ok(KeyValue::Str(s))
    } else {
        Ok(KeyValue::Int(v.extract::<i64>()?))
    }
}

#[pymethods]
impl Ledger {
    #[new]
    fn new(data: PyTable) -> Self {
        let (batches, schema) = data.into_inner();
        Ledger(analytics::Table::new(analytics::Ledger::new(
            schema, batches,
        )))
    }

    /// A ledger from columns given apart, each a name and anything with
    /// `__arrow_c_stream__` (a Polars Series: its chunks as they are, no copy). A struct
    /// column `s` becomes a column `s.<field>` per field.
    #[staticmethod]
    fn from_columns(py: Python<'_>, columns: Vec<(String, PyChunkedArray)>) -> PyResult<Self> {
        let columns = columns
            .into_iter()
            .map(|(name, c)| (name, c.into_inner().0))
            .collect();
        let ledger = py.detach(|| analytics::from_columns(columns))?;
        Ok(Ledger(analytics::Table::new(ledger)))
    }

    fn __len__(&self) -> usize {
        self.0.ledger().rows()
    }

    /// Distinct values of a column (a value) or of a tuple of columns (a tuple), in code order.
    fn distinct(&self, py: Python<'_>, columns: Vec<String>) -> PyResult<Vec<Py<PyAny>>> {
        let encoded = py.detach(|| self.0.encoded_tuple(&columns))?;
        (0..encoded.cardinality())
            .map(|c| key_to_py(py, &encoded.key(c)))
            .collect()
    }

    /// Rolls the ledger up. `keys` holds `(name, None)` for a column and `(name, unit)` for a
    /// time bucket of `time_column` (`unit` one of hour, day, month).
    #[pyo3(signature = (keys, *, time_column="at_us", tz="UTC", since_us=None, until_us=None, filters=Vec::new(), repricing=None, latency_values=false, latency_sums=false))]
    #[allow(clippy::too_many_arguments)]
    fn rollup(
        &self,
        py: Python<'_>,
        keys: Vec<(String, Option<String>)>,
        time_column: &str,
        tz: &str,
        since_us: Option<i64>,
        until_us: Option<i64>,
        filters: Vec<(String, Bound<'_, PyAny>)>,
        repricing: Option<&Repricing>,
        latency_values: bool,
        latency_sums: bool,
    ) -> PyResult<ArrowResult> {
        let latency = match (latency_values, latency_sums) {
            (false, false) => LatencyOut::Stats,
            (true, false) => LatencyOut::Values,
            (false, true) => LatencyOut::Sums,
            (true, true) => {
                return Err(PyValueError::new_err(
                    "latency_values and latency_sums are two answers: ask for one",
                ))
            }
        };
        let keys = keys
            .into_iter()
            .map(|(name, unit)| match unit {
                Some(u) => Ok(Key::Time(u.parse::<Unit>()?, name)),
                None => Ok(Key::Column(name)),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let filters = filters
            .iter()
            .map(|(c, v)| Ok((c.clone(), key_from_py(v)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let spec = RollupSpec {
            keys,
            time_column: time_column.to_owned(),
            zone: tz.parse::<Zone>()?,
            since_us,
            until_us,
            filters,
            rates: repricing.map(|r| r.0.clone()),
            latency,
        };
        Ok(ArrowResult(
            py.detach(|| analytics::rollup(&self.0, &spec))?,
        ))
    }

    /// Per-row re-priced cost, one Decimal128(38, 12) USD column `repriced_cost` (null when
    /// the row's model is unpriced).
    #[pyo3(signature = (repricing, *, time_column="at_us"))]
    fn reprice(
        &self,
        py: Python<'_>,
        repricing: &Repricing,
        time_column: &str,
    ) -> PyResult<ArrowResult> {
        let costs = py.detach(|| analytics::reprice_rows(&self.0, time_column, &repricing.0))?;
        let array = Decimal128Array::from_iter(costs.into_iter().map(|c| c.map(i128::from)))
            .with_precision_and_scale(38, 12)
            .map_err(|e| Error::Argument(e.to_string()))?;
        let field = Field::new("repriced_cost", array.data_type().clone(), true);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![field])),
            vec![Arc::new(array) as ArrayRef],
        )
        .map_err(|e| Error::Argument(e.to_string()))?;
        Ok(ArrowResult(batch))
    }
}

#[pymethods]
impl Repricing {
    /// `pairs`: the (model index, mode index or None) pairs to compile. `routes[model_code *
    /// modes + mode_code]` = `(from_us, main, before)`, each of `main` / `before` a
    /// `(pair index, discount ppm)` or None for unpriced (see `analytics::Route`).
    #[new]
    #[pyo3(signature = (catalog, pairs, model_key, mode_key, routes))]
    fn new(
        py: Python<'_>,
        catalog: &Catalog,
        pairs: Vec<(u32, Option<u32>)>,
        model_key: Vec<String>,
        mode_key: Option<String>,
        routes: Vec<RouteTuple>,
    ) -> PyResult<Self> {
        let repricer = py.detach(|| analytics::Repricer::new(&catalog.0, &pairs))?;
        let routes = routes
            .into_iter()
            .map(|(from_us, main, before)| Route {
                from_us,
                main,
                before,
            })
            .collect();
        Ok(Repricing(Rates {
            repricer,
            model_key,
            mode_key,
            routes,
            id: analytics::next_id(),
        }))
    }
}

#[pymethods]
impl ArrowResult {
    fn __len__(&self) -> usize {
        self.0.num_rows()
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyArrowResult<Bound<'py, PyCapsule>> {
        let field = Field::new_struct("", self.0.schema().fields().clone(), false);
        let array: ArrayRef = Arc::new(StructArray::from(self.0.clone()));
        let reader = ArrayIterator::new(std::iter::once(Ok(array)), Arc::new(field));
        to_stream_pycapsule(py, Box::new(reader), requested_schema)
    }
}

/// Adds the analytics classes to the native module.
/// `latency_ms_mean`, `_p50`, `_p95` and `_max` of each row of a table whose first column
/// holds lists of latencies (a rollup's `latency_ms_values`, merged across parts).
#[pyfunction]
fn latency_stats(py: Python<'_>, data: PyTable) -> PyResult<ArrowResult> {
    let (batches, _) = data.into_inner();
    let batch = py.detach(|| analytics::latency_stats(&batches))?;
    Ok(ArrowResult(batch))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(latency_stats, m)?)?;
    m.add_class::<Ledger>()?;
    m.add_class::<Repricing>()?;
    m.add_class::<ArrowResult>()?;
    Ok(())
}
