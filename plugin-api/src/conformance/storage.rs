//! The storage plugin conformance suite.
