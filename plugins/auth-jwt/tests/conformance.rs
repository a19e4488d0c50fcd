//! The JWT plugin passes the auth conformance suite, linked in, with HS256 and ES256
//! fixtures, and in dev mode (generic checks only).

mod common;

use common::*;
use conclave_plugin_api::conformance::auth::run;
use conclave_plugin_api::host::LoadedPlugin;

#[test]
fn hs256_passes_with_fixtures() {
    let report = run(&load(&hs256_config()), Some(&hs256_fixtures())).unwrap();
    assert_eq!(report.passed.len(), 10, "{report:?}");
}

#[test]
fn es256_passes_with_fixtures() {
    let report = run(&load(&es256_config()), Some(&es256_fixtures())).unwrap();
    assert_eq!(report.passed.len(), 10, "{report:?}");
}

#[test]
fn both_keys_pass_with_either_fixtures() {
    let config = serde_json::json!({
        "hs256_secret": SECRET,
        "es256_public_key_pem": es256_keys().1,
        "issuer": null,
    })
    .to_string();
    let auth = load(&config);
    run(&auth, Some(&hs256_fixtures())).unwrap();
    run(&auth, Some(&es256_fixtures())).unwrap();
}

#[test]
fn dev_mode_passes_the_generic_checks() {
    let auth = LoadedPlugin::builtin("jwt", conclave_auth_jwt::plugin_module())
        .new_auth(r#"{"mode":"dev"}"#, &host(true))
        .unwrap();
    run(&auth, None).unwrap();
}
