//! Fixture tests: every rule of every dialect, on real-shaped bodies in `tests/fixtures/`.
