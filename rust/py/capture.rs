//! `UsageParser`, `count_tokens` and `estimate_request_tokens` for Python: conversions only.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::capture::tokenize::{self, Encoding};
use crate::capture::{self, Api};
use crate::pricing::BUCKETS;

/// Inputs at least this large are processed with the GIL released. Below it, the parse takes
/// about as long as releasing and re-taking the GIL, so the other threads would gain nothing.
const DETACH_MIN_BYTES: usize = 16 * 1024;

fn check_provider(provider: &str) -> PyResult<()> {
    match provider {
        "openai" | "anthropic" | "google" => Ok(()),
        _ => Err(PyValueError::new_err(format!(
            "unknown provider dialect {provider:?} (openai, anthropic, google)"
        ))),
    }
}

fn parse_api(api: &str) -> PyResult<Api> {
    api.parse().map_err(PyValueError::new_err)
}

fn parse_encoding(encoding: &str) -> PyResult<Encoding> {
    encoding.parse().map_err(PyValueError::new_err)
}

/// Reads a response body, fed in any split, into usage (see `llmledger.capture`).
#[pyclass(module = "llmledger._core")]
struct UsageParser(capture::UsageParser);

#[pymethods]
impl UsageParser {
    #[new]
    fn new(provider: &str, api: &str, streaming: bool) -> PyResult<Self> {
        check_provider(provider)?;
        Ok(UsageParser(capture::UsageParser::new(
            parse_api(api)?,
            streaming,
        )))
    }

    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) {
        if chunk.len() >= DETACH_MIN_BYTES {
            py.detach(|| self.0.feed(chunk));
        } else {
            self.0.feed(chunk);
        }
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // A JSON body is parsed here, all at once: a large one without the GIL.
        let s = if self.0.unparsed_len() >= DETACH_MIN_BYTES {
            py.detach(|| self.0.finish())
        } else {
            self.0.finish()
        };
        let out = PyDict::new(py);
        out.set_item("model", s.model)?;
        out.set_item("response_id", s.response_id)?;
        out.set_item("service_tier", s.service_tier)?;
        let usage = match s.usage {
            Some(tokens) => {
                let d = PyDict::new(py);
                for (name, n) in BUCKETS.iter().zip(tokens) {
                    d.set_item(*name, n)?;
                }
                Some(d)
            }
            None => None,
        };
        out.set_item("usage", usage)?;
        out.set_item("usage_source", s.usage_source.map(|u| u.as_str()))?;
        out.set_item("raw_usage", s.raw_usage)?;
        out.set_item("output_text", s.output_text)?;
        out.set_item("events", s.events)?;
        out.set_item("error", s.error)?;
        Ok(out)
    }
}

/// Exact BPE token count of `text` in `encoding` (`o200k_base` or `cl100k_base`).
#[pyfunction]
fn count_tokens(py: Python<'_>, text: &str, encoding: &str) -> PyResult<usize> {
    let encoding = parse_encoding(encoding)?;
    Ok(if text.len() >= DETACH_MIN_BYTES {
        py.detach(|| tokenize::count_tokens(text, encoding))
    } else {
        tokenize::count_tokens(text, encoding)
    })
}

/// Estimated input tokens of a JSON request body (a documented approximation).
#[pyfunction]
fn estimate_request_tokens(
    py: Python<'_>,
    provider: &str,
    api: &str,
    request_body: &[u8],
    encoding: &str,
) -> PyResult<usize> {
    check_provider(provider)?;
    let (api, encoding) = (parse_api(api)?, parse_encoding(encoding)?);
    Ok(py.detach(|| tokenize::estimate_request_tokens(api, request_body, encoding)))
}

/// Adds the capture classes and functions to the native module.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UsageParser>()?;
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_request_tokens, m)?)?;
    Ok(())
}
