//! The auth plugin conformance suite.
