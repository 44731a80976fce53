//! The PyO3 layer: converts types, maps errors. No logic lives here.

use pyo3::exceptions::{PyIndexError, PyKeyError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

mod analytics;
mod capture;

use crate::pricing::{self, Tokens};
use crate::Error;

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let msg = err.to_string();
        match err {
            Error::Catalog(_) | Error::InvalidCatalog(_) => PyValueError::new_err(msg),
            Error::NoSuchModel(_) => PyIndexError::new_err(msg),
            Error::Overflow => PyOverflowError::new_err(msg),
            Error::MissingColumn(_) => PyKeyError::new_err(msg),
            Error::ColumnType(..) => PyTypeError::new_err(msg),
            Error::Argument(_) => PyValueError::new_err(msg),
        }
    }
}

/// `(costs per bucket, request_fee, total, version, tier_start, variant_applied)`.
type QuoteTuple = ([i64; 8], i64, i64, usize, Option<u64>, bool);

/// A compiled price catalog (see `llmledger.pricing.catalog`).
#[pyclass(frozen, module = "llmledger._core")]
struct Catalog(pricing::Catalog);

#[pymethods]
impl Catalog {
    #[new]
    fn new(json: &str) -> PyResult<Self> {
        Ok(Catalog(pricing::Catalog::from_json(json)?))
    }

    fn __len__(&self) -> usize {
        self.0.models.len()
    }

    fn mode_index(&self, mode: &str) -> Option<u32> {
        self.0.mode_index(mode)
    }

    #[pyo3(signature = (model, ts_us, mode, tokens, discount_ppm))]
    fn price(
        &self,
        model: usize,
        ts_us: i64,
        mode: Option<u32>,
        tokens: Tokens,
        discount_ppm: u32,
    ) -> PyResult<QuoteTuple> {
        let q = self.0.price(model, ts_us, mode, &tokens, discount_ppm)?;
        Ok((
            q.costs,
            q.request_fee,
            q.total,
            q.version,
            q.tier_start,
            q.variant_applied,
        ))
    }
}

/// The native module, `llmledger._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "BUCKETS",
        pyo3::types::PyTuple::new(m.py(), pricing::BUCKETS)?,
    )?;
    m.add_class::<Catalog>()?;
    analytics::register(m)?;
    capture::register(m)?;
    Ok(())
}
