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
    /// A column the analytics kernels need is absent from the ledger.
    #[error("the ledger has no column {0:?}")]
    MissingColumn(String),
    /// A ledger column has a type the kernels do not read.
    #[error("column {0:?} has unsupported type {1}")]
    ColumnType(String, String),
    /// An analytics argument is invalid (unknown bucket or time zone, mismatched tables...).
    #[error("{0}")]
    Argument(String),
}
