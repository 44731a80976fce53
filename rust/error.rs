//! The one error type of the core; the PyO3 layer maps it to Python exceptions.

/// Everything the core can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The compiled catalog handed to [`crate::pricing::Catalog::from_json`] is malformed.
    #[error("invalid price catalog: {0}")]
    Catalog(#[from] serde_json::Error),
    /// The compiled catalog parses but breaks an invariant (a model without versions...).
    #[error("invalid price catalog: {0}")]
    InvalidCatalog(String),
    /// A model index that the catalog does not hold.
    #[error("no model at index {0} in the price catalog")]
    NoSuchModel(usize),
    /// A cost that does not fit the 64-bit pico-USD range (about 9.2 million USD per call).
    #[error("cost overflows the 64-bit pico-USD range")]
    Overflow,
}
