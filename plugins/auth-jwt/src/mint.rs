//! Minting tokens, for tests and the relay's development tooling. The relay itself only
//! verifies.

use base64ct::{Base64UrlUnpadded, Encoding};
use conclave_plugin_api::PluginError;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::claims::Claims;

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn hs256_signature(secret: &[u8], input: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(input.as_bytes());
    b64(&mac.finalize().into_bytes())
}

fn claims_value(claims: &Claims) -> Value {
    // Serializing plain strings and integers cannot fail.
    serde_json::to_value(claims).unwrap_or(Value::Null)
}

/// An HS256 token carrying `claims`, signed with `secret`.
pub fn mint_hs256(secret: &[u8], claims: &Claims) -> String {
    mint_hs256_raw(
        secret,
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims_value(claims),
    )
}

/// An HS256-signed token with any header and claims (for tests of odd tokens: the header's
/// `alg` is not looked at).
pub fn mint_hs256_raw(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let signature = hs256_signature(secret, &input);
    format!("{input}.{signature}")
}

/// An ES256 token carrying `claims`, signed with a P-256 private key in PKCS#8 PEM form
/// (`BEGIN PRIVATE KEY`).
pub fn mint_es256(private_key_pem: &str, claims: &Claims) -> Result<String, PluginError> {
    let key = SigningKey::from_pkcs8_pem(private_key_pem.trim())
        .map_err(|_| PluginError::invalid("not a P-256 private key in PKCS#8 PEM form"))?;
    let input = signing_input(
        &json!({"alg": "ES256", "typ": "JWT"}),
        &claims_value(claims),
    );
    let signature: Signature = key
        .try_sign(input.as_bytes())
        .map_err(|_| PluginError::internal("ECDSA signing failed"))?;
    Ok(format!("{input}.{}", b64(&signature.to_bytes())))
}
