//! Errors of the control-API client: the relay's own answers (with their stable `code`),
//! transport failures, and protocol failures of the SDK.

use std::time::Duration;

use crate::ClientError;

/// An error answer of the relay: the HTTP status, the API's stable `code` (docs/API.md),
/// its human message, and for `rate_limited` how long to wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay answered {status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The stable error code, e.g. `not_found`, `rate_limited`.
    pub code: String,
    /// The relay's human-readable message.
    pub message: String,
    /// `Retry-After`, for `429 rate_limited`.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Is this the given stable code?
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

/// Everything that can go wrong in the SDK's online operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The relay refused the request.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The relay could not be reached, or the connection failed.
    #[error("relay unreachable: {0}")]
    Transport(String),
    /// The relay answered something that does not follow docs/API.md.
    #[error("unexpected answer from the relay: {0}")]
    BadResponse(String),
    /// The push WebSocket failed.
    #[error("push channel: {0}")]
    Push(String),
    /// A protocol failure: a bundle that does not verify, a container that does not open.
    #[error(transparent)]
    Protocol(#[from] ClientError),
    /// A caller error: an invalid URL, username or argument.
    #[error("{0}")]
    Invalid(String),
    /// The account file (`account.json`) is missing, unreadable or corrupt.
    #[error("{path}: {problem}")]
    Account { path: String, problem: String },
}

impl SdkError {
    /// The relay's error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            SdkError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Is this the relay error with the given stable code?
    pub fn is_api(&self, code: &str) -> bool {
        self.api().is_some_and(|e| e.is(code))
    }
}

impl From<reqwest::Error> for SdkError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            SdkError::BadResponse(e.to_string())
        } else {
            // `reqwest` errors chain their causes; keep them on one line.
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            SdkError::Transport(msg)
        }
    }
}

/// Result of the SDK's online operations.
pub type SdkResult<T> = std::result::Result<T, SdkError>;
