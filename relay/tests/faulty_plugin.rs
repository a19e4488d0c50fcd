//! A plugin loaded from a shared library that panics or fails never takes the relay down:
//! the call returns an error and the next call works.

mod common;

use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::auth::{Action, AuthRequest};
use conclave_relay::config::RelayConfig;
use conclave_relay::plugins;

#[test]
fn a_panicking_plugin_returns_errors_and_the_relay_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = RelayConfig::from_toml(&format!(
        "[plugins.auth]\nplugin = \"{}\"\n[plugins.storage]\nplugin = \"sqlite\"\nconfig = {{ path = \"{}\" }}\n",
        common::faulty_so().display(),
        dir.path().join("f.db").display()
    ))
    .unwrap();
    let started = plugins::start(&config).unwrap();
    let request = |credential: &str| AuthRequest {
        credential: credential.into(),
        action: Action::JoinMeeting,
        resource: "m".into(),
        now_ms: 0,
    };
    for _ in 0..3 {
        let e = started.auth.authenticate(&request("panic")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(e.message.contains("panicked"), "{e}");
        let e = started.auth.authenticate(&request("error")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(
            started
                .auth
                .authenticate(&request("ok"))
                .unwrap()
                .subject
                .as_str(),
            "faulty"
        );
    }
    // A panic in the constructor is an error at start-up, not a crash.
    // (`config` is usually a table; any TOML value is passed on as JSON.)
    let panicky = RelayConfig::from_toml(&format!(
        "[plugins.auth]\nplugin = \"{}\"\nconfig = \"panic\"\n",
        common::faulty_so().display()
    ))
    .unwrap();
    let e = plugins::start(&panicky).unwrap_err().to_string();
    assert!(
        e.contains("plugin refused its configuration: internal"),
        "{e}"
    );
    assert!(e.contains("panicked"), "{e}");
}
