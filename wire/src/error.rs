use thiserror::Error;

/// A parse or encode failure. Parsers return this for any input they do not accept;
/// they never panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("truncated {what}: need {need} more bytes")]
    Truncated { what: &'static str, need: usize },
    #[error("{0} trailing bytes after the end of the structure")]
    TrailingBytes(usize),
    #[error("unsupported {what} version {got}")]
    UnsupportedVersion { what: &'static str, got: u8 },
    #[error("bad magic: not a {0}")]
    BadMagic(&'static str),
    #[error("{what} out of range: {got}")]
    OutOfRange { what: &'static str, got: u64 },
    #[error("unknown {what} {got}")]
    UnknownValue { what: &'static str, got: u64 },
    #[error("non-minimal encoding of {0}")]
    NonMinimal(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    #[error("too large: {what} is {got} bytes, limit {limit}")]
    TooLarge {
        what: &'static str,
        got: usize,
        limit: usize,
    },
    #[error("invalid JSON: {0}")]
    Json(String),
}
