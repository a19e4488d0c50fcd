//! Behaviour of the JWT plugin: algorithms, times, issuer and audience, actions, meetings,
//! dev mode, configuration errors, and denials that never echo a token or key.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::*;
use conclave_auth_jwt::{Claims, Meetings, mint_es256, mint_hs256, mint_hs256_raw};
use conclave_plugin_api::auth::{Action, AuthRequest, Principal};
use conclave_plugin_api::host::{AuthHandle, LoadCause, LoadedPlugin};
use conclave_plugin_api::{ErrorKind, PluginError};
use serde_json::json;

fn request(credential: &str, action: Action, resource: &str) -> AuthRequest {
    AuthRequest {
        credential: credential.into(),
        action,
        resource: resource.into(),
        now_ms: NOW_MS,
    }
}

fn at(mut r: AuthRequest, now_ms: u64) -> AuthRequest {
    r.now_ms = now_ms;
    r
}

fn fetch(token: &str) -> AuthRequest {
    request(token, Action::FetchBundle, "")
}

/// Expects a denial with `reason`, that does not echo the token or the secret.
fn denied(auth: &AuthHandle, r: &AuthRequest, reason: &str) {
    let e = auth.authenticate(r).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert_eq!(e.message.as_str(), reason);
    assert!(!e.message.contains(SECRET));
    if r.credential.len() > 8 {
        assert!(!e.message.contains(r.credential.as_str()));
    }
}

fn ok(auth: &AuthHandle, r: &AuthRequest) -> Principal {
    auth.authenticate(r).unwrap()
}

fn hs(c: &Claims) -> String {
    mint_hs256(SECRET.as_bytes(), c)
}

fn config_error(config: &str, loopback: bool) -> PluginError {
    let e = LoadedPlugin::builtin("jwt", conclave_auth_jwt::plugin_module())
        .new_auth(config, &host(loopback))
        .unwrap_err();
    match e.cause {
        LoadCause::Config(e) => e,
        other => panic!("not a config error: {other}"),
    }
}

#[test]
fn hs256_token_gives_its_principal() {
    let auth = load(&hs256_config());
    let p = ok(&auth, &request(&hs(&claims()), Action::JoinMeeting, "aa02"));
    assert_eq!(p.subject.as_str(), SUBJECT);
    assert_eq!(
        p.device_id.as_ref().into_option().map(|d| d.as_str()),
        Some("device-1")
    );
    let meetings: Vec<&str> = p.meetings.iter().map(|m| m.as_str()).collect();
    assert_eq!(meetings, ["aa01", "aa02"]);
    assert_eq!(
        p.actions.as_slice(),
        [
            Action::RegisterDevice,
            Action::FetchBundle,
            Action::SendContainer,
            Action::JoinMeeting
        ]
    );
    assert_eq!(p.expires_ms, (NOW_S + 3600) * 1000);
}

#[test]
fn es256_token_gives_its_principal() {
    let auth = load(&es256_config());
    let token = mint_es256(&es256_keys().0, &claims()).unwrap();
    assert_eq!(ok(&auth, &fetch(&token)).subject.as_str(), SUBJECT);
    // A token signed by another key is refused.
    let other = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    let other_pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&other, Default::default())
        .unwrap()
        .to_string();
    let forged = mint_es256(&other_pem, &claims()).unwrap();
    denied(&auth, &fetch(&forged), "bad signature");
}

#[test]
fn times_follow_the_request_clock_with_leeway() {
    let auth = load(&hs256_config()); // default leeway: 30 s
    let mut c = claims();
    c.exp = NOW_S;
    let token = hs(&c);
    // The wall clock is decades later: only the request's clock counts.
    ok(&auth, &at(fetch(&token), NOW_MS + 29_999));
    denied(&auth, &at(fetch(&token), NOW_MS + 30_000), "token expired");

    let mut c = claims();
    c.nbf = Some(NOW_S + 60);
    let token = hs(&c);
    denied(&auth, &fetch(&token), "token not yet valid");
    ok(&auth, &at(fetch(&token), NOW_MS + 30_000));

    let mut c = claims();
    c.iat = Some(NOW_S + 3600);
    denied(&auth, &fetch(&hs(&c)), "token issued in the future");

    let strict = load(&json!({"hs256_secret": SECRET, "leeway_s": 0}).to_string());
    let mut c = claims();
    c.exp = NOW_S;
    denied(&strict, &fetch(&hs(&c)), "token expired");
    ok(&strict, &at(fetch(&hs(&c)), NOW_MS - 1));
}

#[test]
fn exp_is_required_and_time_claims_must_be_numbers() {
    let auth = load(&hs256_config());
    let header = json!({"alg": "HS256"});
    let no_exp = mint_hs256_raw(
        SECRET.as_bytes(),
        &header,
        &json!({"sub": SUBJECT, "act": ["fetch_bundle"]}),
    );
    denied(&auth, &fetch(&no_exp), "missing claim exp");
    for exp in [json!("soon"), json!(-5), json!(null), json!([1])] {
        let token = mint_hs256_raw(
            SECRET.as_bytes(),
            &header,
            &json!({"sub": SUBJECT, "act": ["fetch_bundle"], "exp": exp}),
        );
        let e = auth.authenticate(&fetch(&token)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Denied, "{exp}: {e}");
    }
    // Fractional NumericDates are fine.
    let token = mint_hs256_raw(
        SECRET.as_bytes(),
        &header,
        &json!({"sub": SUBJECT, "act": ["fetch_bundle"], "exp": NOW_S as f64 + 100.5}),
    );
    assert_eq!(ok(&auth, &fetch(&token)).expires_ms, NOW_MS + 100_500);
    let no_sub = mint_hs256_raw(
        SECRET.as_bytes(),
        &header,
        &json!({"sub": "", "act": ["fetch_bundle"], "exp": NOW_S + 100}),
    );
    denied(&auth, &fetch(&no_sub), "missing claim sub");
}

#[test]
fn issuer_and_audience() {
    let auth = load(
        &json!({"hs256_secret": SECRET, "issuer": "https://idp.example", "audience": "conclave"})
            .to_string(),
    );
    let mut c = claims();
    c.iss = Some("https://idp.example".into());
    c.aud = Some("conclave".into());
    ok(&auth, &fetch(&hs(&c)));

    let mut wrong = c.clone();
    wrong.iss = Some("https://evil.example".into());
    denied(&auth, &fetch(&hs(&wrong)), "wrong issuer");
    let mut missing = c.clone();
    missing.iss = None;
    denied(&auth, &fetch(&hs(&missing)), "wrong issuer");
    let mut wrong = c.clone();
    wrong.aud = Some("other".into());
    denied(&auth, &fetch(&hs(&wrong)), "wrong audience");
    let mut missing = c.clone();
    missing.aud = None;
    denied(&auth, &fetch(&hs(&missing)), "wrong audience");

    // `aud` may be an array.
    let mut value = serde_json::to_value(&c).unwrap();
    value["aud"] = json!(["other", "conclave"]);
    let token = mint_hs256_raw(SECRET.as_bytes(), &json!({"alg": "HS256"}), &value);
    ok(&auth, &fetch(&token));

    // A token meant for an audience is refused where none is configured (RFC 7519 §4.1.3).
    let plain = load(&hs256_config());
    denied(&plain, &fetch(&hs(&c)), "wrong audience");
    // An issuer is not checked when none is configured.
    let mut c = claims();
    c.iss = Some("anyone".into());
    ok(&plain, &fetch(&hs(&c)));
}

#[test]
fn algorithm_none_is_refused() {
    let auth = load(&hs256_config());
    let payload =
        Base64UrlUnpadded::encode_string(serde_json::to_string(&claims()).unwrap().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = Base64UrlUnpadded::encode_string(json!({"alg": alg}).to_string().as_bytes());
        // With an empty signature (the usual attack) and with a dummy one.
        denied(
            &auth,
            &fetch(&format!("{header}.{payload}.")),
            "malformed token",
        );
        denied(
            &auth,
            &fetch(&format!("{header}.{payload}.AAAA")),
            "algorithm not accepted",
        );
    }
    // Other algorithms, even correctly HMAC-signed with the secret, are refused.
    for alg in [
        "HS384", "HS512", "hs256", "RS256", "ES384", "PS256", "EdDSA",
    ] {
        let token = mint_hs256_raw(
            SECRET.as_bytes(),
            &json!({"alg": alg}),
            &serde_json::to_value(claims()).unwrap(),
        );
        denied(&auth, &fetch(&token), "algorithm not accepted");
    }
    let no_alg = mint_hs256_raw(
        SECRET.as_bytes(),
        &json!({"typ": "JWT"}),
        &serde_json::to_value(claims()).unwrap(),
    );
    denied(&auth, &fetch(&no_alg), "malformed token");
}

#[test]
fn algorithm_confusion_is_refused() {
    let (private, public) = es256_keys();
    let claims = serde_json::to_value(claims()).unwrap();
    // The classic attack: an HS256 token "signed" with the ES256 public key's bytes.
    let forged = [
        mint_hs256_raw(public.as_bytes(), &json!({"alg": "HS256"}), &claims),
        mint_hs256_raw(public.trim().as_bytes(), &json!({"alg": "HS256"}), &claims),
    ];
    let es_only = load(&es256_config());
    for token in &forged {
        denied(&es_only, &fetch(token), "algorithm not accepted");
    }
    // With both keys configured, an HS256 token is checked with the HS256 secret only.
    let both = load(&json!({"hs256_secret": SECRET, "es256_public_key_pem": public}).to_string());
    for token in &forged {
        denied(&both, &fetch(token), "bad signature");
    }
    // And an ES256 token is refused where only HS256 is configured.
    let es_token = mint_es256(&private, &common::claims()).unwrap();
    denied(
        &load(&hs256_config()),
        &fetch(&es_token),
        "algorithm not accepted",
    );
    // An ES256 header over an HMAC signature is not an ES256 signature.
    let relabelled = mint_hs256_raw(SECRET.as_bytes(), &json!({"alg": "ES256"}), &claims);
    denied(&both, &fetch(&relabelled), "bad signature");
}

#[test]
fn tampering_and_malformed_tokens() {
    let auth = load(&hs256_config());
    let token = hs(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    // Another payload under the original signature.
    let mut c = claims();
    c.sub = "someone-else".into();
    let other_payload =
        Base64UrlUnpadded::encode_string(serde_json::to_string(&c).unwrap().as_bytes());
    let swapped = format!("{}.{other_payload}.{}", parts[0], parts[2]);
    denied(&auth, &fetch(&swapped), "bad signature");
    // Signed with another secret.
    let other = mint_hs256(b"another-secret-of-at-least-thirty-two-bytes", &claims());
    denied(&auth, &fetch(&other), "bad signature");
    // Truncated or padded signatures.
    denied(&auth, &fetch(&token[..token.len() - 3]), "bad signature");
    denied(&auth, &fetch(&token[..token.len() - 1]), "malformed token");
    denied(&auth, &fetch(&format!("{token}=")), "malformed token");
    denied(&auth, &fetch(&format!("Bearer {token}")), "malformed token");
    denied(&auth, &fetch(&format!("{token}.")), "malformed token");
    denied(&auth, &fetch(""), "malformed token");
    // A critical header extension is not understood, so refused.
    let crit = mint_hs256_raw(
        SECRET.as_bytes(),
        &json!({"alg": "HS256", "crit": ["x"], "x": 1}),
        &serde_json::to_value(claims()).unwrap(),
    );
    denied(&auth, &fetch(&crit), "unsupported critical header");
    let huge = "A".repeat(conclave_auth_jwt::MAX_CREDENTIAL_LEN + 1);
    denied(&auth, &fetch(&huge), "credential too long");
}

#[test]
fn actions_and_meetings() {
    let auth = load(&hs256_config());
    let token = hs(&claims());
    denied(
        &auth,
        &request(&token, Action::Admin, ""),
        "action not allowed",
    );
    denied(
        &auth,
        &request(&token, Action::CreateMeeting, "aa01"),
        "action not allowed",
    );
    ok(&auth, &request(&token, Action::JoinMeeting, "aa01"));
    denied(
        &auth,
        &request(&token, Action::JoinMeeting, "aa03"),
        "meeting not allowed",
    );
    denied(
        &auth,
        &request(&token, Action::JoinMeeting, ""),
        "meeting not allowed",
    );

    // "*" allows every meeting; a single id may be a plain string.
    let mut c = claims();
    c.mtg = Meetings::all();
    ok(&auth, &request(&hs(&c), Action::JoinMeeting, "ffff"));
    c.mtg = Meetings::One("cc01".into());
    ok(&auth, &request(&hs(&c), Action::JoinMeeting, "cc01"));
    denied(
        &auth,
        &request(&hs(&c), Action::JoinMeeting, "aa01"),
        "meeting not allowed",
    );
    c.mtg = Meetings::List(vec!["dd01".into(), "*".into()]);
    ok(&auth, &request(&hs(&c), Action::JoinMeeting, "ee01"));

    // Unknown action names are ignored; no `act` allows nothing.
    let mut c = claims();
    c.act = vec!["fly".into(), "fetch_bundle".into(), "FETCH_BUNDLE".into()];
    let p = ok(&auth, &fetch(&hs(&c)));
    assert_eq!(p.actions.as_slice(), [Action::FetchBundle]);
    c.act.clear();
    denied(&auth, &fetch(&hs(&c)), "action not allowed");
}

#[test]
fn registration_is_for_the_token_subject() {
    let auth = load(&hs256_config());
    let token = hs(&claims());
    ok(&auth, &request(&token, Action::RegisterDevice, SUBJECT));
    ok(&auth, &request(&token, Action::RegisterDevice, ""));
    denied(
        &auth,
        &request(&token, Action::RegisterDevice, "another-user"),
        "user not allowed",
    );
}

#[test]
fn dev_mode_needs_loopback() {
    let e = config_error(r#"{"mode":"dev"}"#, false);
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("loopback"), "{e}");

    let plugin = LoadedPlugin::builtin("jwt", conclave_auth_jwt::plugin_module());
    let dev = plugin.new_auth(r#"{"mode":"dev"}"#, &host(true)).unwrap();
    for action in Action::ALL {
        let resource = if action.is_meeting_scoped() {
            "abcd"
        } else {
            ""
        };
        let p = ok(&dev, &request("dev:alice:phone-1", action, resource));
        assert_eq!(p.subject.as_str(), "alice");
        assert_eq!(
            p.device_id.as_ref().into_option().map(|d| d.as_str()),
            Some("phone-1")
        );
        assert!(p.expires_ms > NOW_MS);
    }
    let p = ok(&dev, &fetch("dev:bob"));
    assert!(p.device_id.is_none());
    denied(&dev, &fetch("dev:"), "malformed dev credential");
    denied(&dev, &fetch("dev:a:b:c"), "malformed dev credential");
    denied(
        &dev,
        &request("dev:bob", Action::RegisterUser, "alice"),
        "user not allowed",
    );
    // Without keys, anything else is a malformed token; with keys, JWTs still work.
    denied(&dev, &fetch(&hs(&claims())), "algorithm not accepted");
    let dev_jwt = plugin
        .new_auth(
            &json!({"mode": "dev", "hs256_secret": SECRET}).to_string(),
            &host(true),
        )
        .unwrap();
    ok(&dev_jwt, &fetch(&hs(&claims())));
    ok(&dev_jwt, &fetch("dev:carol"));

    // Outside dev mode, dev credentials are just malformed tokens.
    let jwt = plugin.new_auth(&hs256_config(), &host(true)).unwrap();
    denied(&jwt, &fetch("dev:alice"), "malformed token");
}

#[test]
fn configuration_errors_are_clear_and_quote_no_secret() {
    let (_, public) = es256_keys();
    let cases = [
        (json!({}).to_string(), "configure hs256_secret"),
        (json!({"hs256_secret": "short"}).to_string(), "at least 32 bytes"),
        (json!({"es256_public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}).to_string(), "not a P-256 public key"),
        (json!({"hs256_secret": SECRET, "colour": "blue"}).to_string(), "unknown field `colour`"),
        (json!({"hs256_secret": SECRET, "mode": "prod"}).to_string(), "mode must be"),
        (json!({"hs256_secret": SECRET, "leeway_s": 100000}).to_string(), "leeway_s"),
        (json!({"hs256_secret": SECRET, "issuer": ""}).to_string(), "must not be empty"),
        (json!({"hs256_secret": [SECRET]}).to_string(), "wrong type"),
        (json!({"hs256_secret": SECRET, "leeway_s": SECRET}).to_string(), "wrong type"),
        (json!({"es256_public_key_pem": public, "leeway_s": -1}).to_string(), "wrong type"),
        ("{not json".to_string(), "malformed JSON"),
    ];
    for (config, expected) in cases {
        let e = config_error(&config, true);
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{config}");
        assert!(e.message.contains(expected), "{config}: {e}");
        assert!(!e.message.contains(SECRET), "{e}");
        assert!(!e.message.contains("short"), "{e}");
    }
}
