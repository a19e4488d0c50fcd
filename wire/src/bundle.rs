//! The public bundle: a device's certificate plus signed one-time prekeys, as JSON.
//!
//! ```json
//! { "version": 1,
//!   "certificate": "<base64 of the 284-byte device certificate>",
//!   "prekeys": [ { "id": 1, "public_key": "<base64, 65 bytes>", "signature": "<base64, 64 bytes>" } ] }
//! ```
//!
//! Unknown fields are rejected. Parsing checks structure only: signatures are verified by
//! the client before anything in a bundle is used.

use serde::{Deserialize, Serialize};

use crate::WireError;
use crate::b64;
use crate::container::{DeviceCertificate, PUBLIC_KEY_LEN, SIGNATURE_LEN};

pub const BUNDLE_VERSION: u32 = 1;
/// Most prekeys in one bundle.
pub const MAX_BUNDLE_PREKEYS: usize = 1000;
/// Largest bundle document accepted, in bytes.
pub const MAX_BUNDLE_JSON: usize = 512 * 1024;

/// A one-time prekey signed by the device's app key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPrekey {
    pub id: u32,
    #[serde(with = "b64::serde_array")]
    pub public_key: [u8; PUBLIC_KEY_LEN],
    #[serde(with = "b64::serde_array")]
    pub signature: [u8; SIGNATURE_LEN],
}

/// The public bundle of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBundle {
    pub certificate: DeviceCertificate,
    pub prekeys: Vec<SignedPrekey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBundleJson {
    version: u32,
    #[serde(with = "b64::serde_bytes")]
    certificate: Vec<u8>,
    prekeys: Vec<SignedPrekey>,
}

impl DeviceBundle {
    pub fn to_json(&self) -> String {
        let doc = DeviceBundleJson {
            version: BUNDLE_VERSION,
            certificate: self.certificate.to_bytes(),
            prekeys: self.prekeys.clone(),
        };
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_BUNDLE_JSON {
            return Err(WireError::TooLarge {
                what: "bundle",
                got: text.len(),
                limit: MAX_BUNDLE_JSON,
            });
        }
        let doc: DeviceBundleJson =
            serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))?;
        if doc.version != BUNDLE_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "bundle",
                got: u8::try_from(doc.version).unwrap_or(u8::MAX),
            });
        }
        if doc.prekeys.len() > MAX_BUNDLE_PREKEYS {
            return Err(WireError::OutOfRange {
                what: "prekey count",
                got: doc.prekeys.len() as u64,
            });
        }
        let mut ids: Vec<u32> = doc.prekeys.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(WireError::Duplicate("prekey id"));
        }
        Ok(DeviceBundle {
            certificate: DeviceCertificate::parse(&doc.certificate)?,
            prekeys: doc.prekeys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> DeviceBundle {
        DeviceBundle {
            certificate: DeviceCertificate {
                user_key: [4; 65],
                device_id: [1; 16],
                app_key: [4; 65],
                device_key: [4; 65],
                created_ms: 5,
                signature: [9; 64],
            },
            prekeys: vec![SignedPrekey {
                id: 1,
                public_key: [4; 65],
                signature: [8; 64],
            }],
        }
    }

    #[test]
    fn json_round_trip_and_strictness() {
        let b = sample();
        let json = b.to_json();
        assert_eq!(DeviceBundle::from_json(&json).unwrap(), b);
        let unknown = json.replacen("\"version\"", "\"extra\": 1, \"version\"", 1);
        assert!(matches!(
            DeviceBundle::from_json(&unknown),
            Err(WireError::Json(_))
        ));
        let v2 = json.replacen("\"version\": 1", "\"version\": 2", 1);
        assert!(matches!(
            DeviceBundle::from_json(&v2),
            Err(WireError::UnsupportedVersion { .. })
        ));
        let mut dup = sample();
        dup.prekeys.push(dup.prekeys[0].clone());
        assert_eq!(
            DeviceBundle::from_json(&dup.to_json()),
            Err(WireError::Duplicate("prekey id"))
        );
        assert!(DeviceBundle::from_json("").is_err());
        assert!(DeviceBundle::from_json("{}").is_err());
    }

    proptest! {
        #[test]
        fn mutated_json_never_panics(pos in 0usize..2000, val in 0u8..128) {
            let mut bytes = sample().to_json().into_bytes();
            let i = pos % bytes.len();
            bytes[i] = val;
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = DeviceBundle::from_json(&text);
            }
        }
    }
}
