//! The template passes the auth conformance suite, like every plugin must.

use conclave_plugin_api::HostContext;
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::host::LoadedPlugin;

#[test]
fn template_accepts_its_tokens_and_nothing_else() {
    let plugin = LoadedPlugin::builtin("template", conclave_plugin_template::root());
    let host = HostContext {
        loopback_only: false,
        host_version: "test".into(),
    };
    let config = r#"{"tokens": {"t0ken": {"subject": "ab12", "actions": ["join_meeting"], "meetings": ["m1"]}}}"#;
    let auth = plugin.new_auth(config, &host).unwrap();
    let request = |credential: &str, resource: &str| conclave_plugin_api::auth::AuthRequest {
        credential: credential.into(),
        action: Action::JoinMeeting,
        resource: resource.into(),
        now_ms: 1,
    };
    assert_eq!(
        auth.authenticate(&request("t0ken", "m1"))
            .unwrap()
            .subject
            .as_str(),
        "ab12"
    );
    assert!(auth.authenticate(&request("t0ken", "m2")).is_err());
    assert!(auth.authenticate(&request("other", "m1")).is_err());
    assert!(
        plugin
            .new_auth(
                r#"{"tokens": {"x": {"subject": "s", "actions": ["fly"]}}}"#,
                &host
            )
            .is_err()
    );
    let report = conclave_plugin_api::conformance::auth::run(&auth, None).unwrap();
    assert!(!report.passed.is_empty());
}
