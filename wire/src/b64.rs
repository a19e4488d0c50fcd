//! Base64 (RFC 4648 §4, standard alphabet, padded) for byte fields in JSON, strict:
//! non-canonical encodings are rejected.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::WireError;

pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn decode(text: &str) -> Result<Vec<u8>, WireError> {
    STANDARD
        .decode(text)
        .map_err(|_| WireError::Invalid("base64"))
}

/// Decodes exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], WireError> {
    let v = decode(text)?;
    v.as_slice()
        .try_into()
        .map_err(|_| WireError::Invalid(what))
}

/// Serde helpers: `#[serde(with = "conclave_wire::b64::serde_bytes")]` for `Vec<u8>`.
pub mod serde_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::decode(&s).map_err(D::Error::custom)
    }
}

/// Serde helpers for fixed-size arrays: `#[serde(with = "conclave_wire::b64::serde_array")]`.
pub mod serde_array {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let v = super::decode(&s).map_err(D::Error::custom)?;
        v.as_slice()
            .try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} bytes, got {}", v.len())))
    }
}
