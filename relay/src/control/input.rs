//! Strict parsing of request input: JSON bodies, identifiers, base64.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};

/// Parses a JSON body; rejects oversized bodies (413) and anything malformed (400).
pub fn json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> ApiResult<T> {
    let bytes = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request("could not read the body")
        }
    })?;
    if bytes.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde's message names the field and position; it does not echo values at length.
        let msg = e.to_string();
        ApiError::invalid_json(msg.chars().take(200).collect::<String>())
    })
}

/// A lowercase hex identifier of exactly `bytes` bytes.
pub fn hex_id(value: &str, bytes: usize, what: &str) -> ApiResult<String> {
    let ok = value.len() == bytes * 2
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} must be {} lowercase hex digits",
            bytes * 2
        )))
    }
}

pub fn user_hash(value: &str) -> ApiResult<String> {
    hex_id(value, 32, "user hash")
}

pub fn device_id(value: &str) -> ApiResult<String> {
    hex_id(value, 16, "device id")
}

pub fn meeting_id(value: &str) -> ApiResult<String> {
    hex_id(value, 32, "meeting id")
}

pub fn container_id(value: &str) -> ApiResult<String> {
    hex_id(value, 16, "container id")
}

/// Base64 of exactly `len` bytes (or any length when `len` is `None`).
pub fn b64(value: &str, len: Option<usize>, what: &str) -> ApiResult<Vec<u8>> {
    let bytes = conclave_wire::b64::decode(value)
        .map_err(|_| ApiError::bad_request(format!("{what} is not base64")))?;
    match len {
        Some(n) if bytes.len() != n => {
            Err(ApiError::bad_request(format!("{what} must be {n} bytes")))
        }
        _ => Ok(bytes),
    }
}
