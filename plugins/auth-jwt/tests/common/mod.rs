//! Keys, configurations and fixtures shared by the JWT tests.

#![allow(dead_code)]

use conclave_auth_jwt::{Claims, Meetings, mint_es256, mint_hs256};
use conclave_plugin_api::HostContext;
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::conformance::auth::AuthFixtures;
use conclave_plugin_api::host::{AuthHandle, LoadedPlugin};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

pub const SECRET: &str = "test-secret-of-at-least-thirty-two-bytes!";
/// 2001-09-09: far from the wall clock, so a plugin reading the wall clock would fail.
pub const NOW_S: u64 = 1_000_000_000;
pub const NOW_MS: u64 = NOW_S * 1000;
pub const SUBJECT: &str = "5f1c0a7e9b3d2c4e6f8a0b1c2d3e4f5a";

/// A fixed P-256 key pair: (PKCS#8 private PEM, SPKI public PEM).
pub fn es256_keys() -> (String, String) {
    let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (private, public)
}

pub fn host(loopback_only: bool) -> HostContext {
    HostContext {
        loopback_only,
        host_version: "test".into(),
    }
}

pub fn hs256_config() -> String {
    serde_json::json!({ "hs256_secret": SECRET }).to_string()
}

pub fn es256_config() -> String {
    serde_json::json!({ "es256_public_key_pem": es256_keys().1 }).to_string()
}

pub fn load(config: &str) -> AuthHandle {
    LoadedPlugin::builtin("jwt", conclave_auth_jwt::plugin_module())
        .new_auth(config, &host(false))
        .unwrap()
}

/// The claims of the fixtures' valid credential.
pub fn claims() -> Claims {
    let mut c = Claims::new(
        SUBJECT,
        &[
            Action::FetchBundle,
            Action::SendContainer,
            Action::JoinMeeting,
            Action::RegisterDevice,
        ],
        NOW_S + 3600,
    );
    c.dev = Some("device-1".into());
    c.mtg = Meetings::List(vec!["aa01".into(), "aa02".into()]);
    c.iat = Some(NOW_S - 10);
    c.nbf = Some(NOW_S - 10);
    c
}

/// Fixtures for the conformance suite, minted with `mint`.
pub fn fixtures(mint: impl Fn(&Claims) -> String) -> AuthFixtures {
    let valid = claims();
    let mut expired = claims();
    expired.exp = NOW_S - 3600;
    let mut other = Claims::new(SUBJECT, &[Action::JoinMeeting], NOW_S + 3600);
    other.mtg = Meetings::One("bb09".into());
    AuthFixtures {
        now_ms: NOW_MS,
        subject: SUBJECT.into(),
        device_id: Some("device-1".into()),
        valid: mint(&valid),
        actions: valid.act.iter().filter_map(|a| Action::parse(a)).collect(),
        meetings: vec!["aa01".into(), "aa02".into()],
        expired: mint(&expired),
        other_meeting: mint(&other),
        other_meeting_id: "bb09".into(),
    }
}

pub fn hs256_fixtures() -> AuthFixtures {
    fixtures(|c| mint_hs256(SECRET.as_bytes(), c))
}

pub fn es256_fixtures() -> AuthFixtures {
    let private = es256_keys().0;
    fixtures(|c| mint_es256(&private, c).unwrap())
}
