//! The notify plugin conformance suite.
