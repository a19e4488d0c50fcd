//! Conformance suites, one per plugin kind, run by plugin crates' tests and by
//! `conclave-relay plugin check`. Each suite drives a plugin through its host handle and
//! returns a report of the checks that ran, or the first failure (one line).

pub mod auth;
mod cdylib;
pub mod notify;
pub mod storage;

pub use cdylib::built_cdylib;

/// The outcome of a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The checks that passed, by name.
    pub passed: Vec<&'static str>,
}

/// The first check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: &'static str,
    pub problem: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conformance check '{}' failed: {}",
            self.check, self.problem
        )
    }
}

impl std::error::Error for Failure {}
