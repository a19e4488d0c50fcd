//! Compact JWS verification for the two accepted algorithms.

use base64ct::{Base64UrlUnpadded, Encoding};
use conclave_plugin_api::PluginError;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Verifier;
use serde_json::Value;
use sha2::Sha256;

use crate::config::Keys;

/// The algorithms this plugin accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Hs256,
    Es256,
}

impl Alg {
    /// Only the exact registered names; `none`, lower case and everything else are refused.
    fn parse(name: &str) -> Option<Alg> {
        match name {
            "HS256" => Some(Alg::Hs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

fn malformed() -> PluginError {
    PluginError::denied("malformed token")
}

/// Splits a compact JWS into its three base64url parts.
fn split(token: &str) -> Result<[&str; 3], PluginError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(malformed());
    }
    Ok([header, payload, signature])
}

fn decode(part: &str) -> Result<Vec<u8>, PluginError> {
    Base64UrlUnpadded::decode_vec(part).map_err(|_| malformed())
}

/// Reads the protected header and returns the algorithm it names.
fn header_alg(encoded: &str) -> Result<Alg, PluginError> {
    let header: Value = serde_json::from_slice(&decode(encoded)?).map_err(|_| malformed())?;
    let header = header.as_object().ok_or_else(malformed)?;
    if header.contains_key("crit") {
        return Err(PluginError::denied("unsupported critical header"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?;
    Alg::parse(alg).ok_or_else(|| PluginError::denied("algorithm not accepted"))
}

/// Verifies `token`'s signature with the key of the algorithm its header names and returns
/// the decoded payload bytes (not yet parsed: claims are checked by the caller).
pub(crate) fn verify(token: &str, keys: &Keys) -> Result<Vec<u8>, PluginError> {
    let [header, payload, signature] = split(token)?;
    let alg = header_alg(header)?;
    let signature = decode(signature)?;
    // The signing input is the encoded header and payload as they appear in the token.
    let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
    let bad = || PluginError::denied("bad signature");
    match alg {
        Alg::Hs256 => {
            let secret = keys
                .hs256
                .as_ref()
                .ok_or_else(|| PluginError::denied("algorithm not accepted"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| bad())?;
            mac.update(signed);
            // Constant-time comparison; also refuses signatures of the wrong length.
            mac.verify_slice(&signature).map_err(|_| bad())?;
        }
        Alg::Es256 => {
            let key = keys
                .es256
                .as_ref()
                .ok_or_else(|| PluginError::denied("algorithm not accepted"))?;
            // Raw r ‖ s (RFC 7518 §3.4); refuses r or s equal to zero or not below n.
            let signature = Signature::from_slice(&signature).map_err(|_| bad())?;
            key.verify(signed, &signature).map_err(|_| bad())?;
        }
    }
    decode(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_exactly_three_non_empty_parts() {
        assert!(split("a.b.c").is_ok());
        for bad in ["", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "..", "..."] {
            assert!(split(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_exact_algorithm_names() {
        assert_eq!(Alg::parse("HS256"), Some(Alg::Hs256));
        assert_eq!(Alg::parse("ES256"), Some(Alg::Es256));
        for bad in [
            "none", "None", "hs256", "HS384", "RS256", "ES256K", "PS256", "",
        ] {
            assert_eq!(Alg::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn critical_headers_are_refused() {
        let h = Base64UrlUnpadded::encode_string(br#"{"alg":"HS256","crit":["exp"]}"#);
        assert_eq!(
            header_alg(&h).unwrap_err().message.as_str(),
            "unsupported critical header"
        );
        let h = Base64UrlUnpadded::encode_string(br#"["HS256"]"#);
        assert!(header_alg(&h).is_err());
    }
}
