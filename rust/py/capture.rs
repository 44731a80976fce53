//! `UsageParser` (and its `Summary`), `MAX_TOKENS`, `count_tokens` and
//! `estimate_request_tokens` for Python: conversions only.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::capture::tokenize::{self, Encoding};
use crate::capture::{self, Api};
use crate::pricing::Tokens;

/// Inputs at least this large are processed with the GIL released. Below it, the parse takes
/// about as long as releasing and re-taking the GIL, so the other threads would gain nothing.
const DETACH_MIN_BYTES: usize = 16 * 1024;

fn parse_api(api: &str) -> PyResult<Api> {
    api.parse().map_err(PyValueError::new_err)
}

fn parse_encoding(encoding: &str) -> PyResult<Encoding> {
    encoding.parse().map_err(PyValueError::new_err)
}

/// What one response said about itself (see `llmledger.capture.observation`).
#[pyclass(frozen, eq, module = "llmledger._core")]
#[derive(PartialEq)]
struct Summary {
    #[pyo3(get)]
    model: Option<String>,
    #[pyo3(get)]
    response_id: Option<String>,
    #[pyo3(get)]
    service_tier: Option<String>,
    usage: Option<Tokens>,
    #[pyo3(get)]
    usage_source: Option<&'static str>,
    #[pyo3(get)]
    raw_usage: Option<String>,
    #[pyo3(get)]
    usage_problem: Option<String>,
    #[pyo3(get)]
    output_text: String,
    #[pyo3(get)]
    events: u64,
    #[pyo3(get)]
    error: Option<String>,
    #[pyo3(get)]
    failure: Option<String>,
}

#[pymethods]
impl Summary {
    /// The usage in `BUCKETS` order, as a tuple: the shape the recorder takes.
    #[getter]
    fn tokens<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.usage.map(|t| PyTuple::new(py, t)).transpose()
    }
}

/// Reads a response body, fed in any split, into usage (see `llmledger.capture`).
#[pyclass(module = "llmledger._core")]
struct UsageParser(capture::UsageParser);

#[pymethods]
impl UsageParser {
    #[new]
    fn new(api: &str, streaming: bool) -> PyResult<Self> {
        Ok(UsageParser(capture::UsageParser::new(
            parse_api(api)?,
            streaming,
        )))
    }

    /// A parser for a Bedrock event stream (`application/vnd.amazon.eventstream`).
    #[staticmethod]
    fn event_stream(api: &str) -> PyResult<Self> {
        Ok(UsageParser(capture::UsageParser::event_stream(parse_api(
            api,
        )?)))
    }

    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) {
        if chunk.len() >= DETACH_MIN_BYTES {
            py.detach(|| self.0.feed(chunk));
        } else {
            self.0.feed(chunk);
        }
    }

    fn finish(&mut self, py: Python<'_>) -> Summary {
        // A JSON body is parsed here, all at once: a large one without the GIL.
        let s = if self.0.unparsed_len() >= DETACH_MIN_BYTES {
            py.detach(|| self.0.finish())
        } else {
            self.0.finish()
        };
        Summary {
            model: s.model,
            response_id: s.response_id,
            service_tier: s.service_tier,
            usage: s.usage,
            usage_source: s.usage_source.map(|u| u.as_str()),
            raw_usage: s.raw_usage,
            usage_problem: s.usage_problem,
            output_text: s.output_text,
            events: s.events,
            error: s.error,
            failure: s.failure,
        }
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
    api: &str,
    request_body: &[u8],
    encoding: &str,
) -> PyResult<usize> {
    let (api, encoding) = (parse_api(api)?, parse_encoding(encoding)?);
    Ok(py.detach(|| tokenize::estimate_request_tokens(api, request_body, encoding)))
}

/// Adds the capture classes and functions to the native module.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_TOKENS", capture::MAX_TOKENS)?;
    m.add_class::<Summary>()?;
    m.add_class::<UsageParser>()?;
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_request_tokens, m)?)?;
    Ok(())
}
