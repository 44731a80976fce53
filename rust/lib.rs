//! The Rust core of llmledger.
//!
//! Everything here is plain Rust: it knows nothing of Python, so `cargo test` needs no
//! interpreter. The thin PyO3 layer in [`py`] (behind the `python` feature) only converts
//! types, releases the GIL and maps [`Error`] to Python exceptions.

pub mod analytics;
pub mod capture;
pub mod error;
pub mod pricing;

#[cfg(feature = "python")]
mod py;

pub use error::Error;
