//! A plugin linked in as an rlib goes through the same root module and adapters as a
//! loaded one: panics become `Internal` errors, kinds are checked, configs are passed.

use conclave_plugin_api::auth::{Action, Auth, AuthRequest, Principal};
use conclave_plugin_api::host::{LoadCause, LoadedPlugin};
use conclave_plugin_api::{ErrorKind, HostContext, PluginError, PluginKind, PluginMod};

struct Flaky {
    panic_on: String,
}

impl Auth for Flaky {
    const NAME: &'static str = "flaky";
    const VERSION: &'static str = "1.2.3";

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        if config == "panic" {
            panic!("config panic");
        }
        let v: serde_json::Value =
            serde_json::from_str(config).map_err(|e| PluginError::invalid(e.to_string()))?;
        Ok(Flaky {
            panic_on: v["panic_on"].as_str().unwrap_or_default().to_string(),
        })
    }

    fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError> {
        if request.credential.as_str() == self.panic_on {
            panic!("boom on purpose");
        }
        Err(PluginError::denied("no"))
    }
}

fn host() -> HostContext {
    HostContext {
        loopback_only: true,
        host_version: "test".into(),
    }
}

fn request(credential: &str) -> AuthRequest {
    AuthRequest {
        credential: credential.into(),
        action: Action::FetchBundle,
        resource: "".into(),
        now_ms: 0,
    }
}

#[test]
fn panics_become_internal_errors_and_the_host_survives() {
    let plugin = LoadedPlugin::builtin("flaky", PluginMod::auth::<Flaky>());
    assert_eq!(plugin.info().name.as_str(), "flaky");
    assert_eq!(plugin.info().version.as_str(), "1.2.3");
    assert_eq!(plugin.kind(), PluginKind::Auth);
    assert_eq!(
        plugin.info().abi_version.as_str(),
        conclave_plugin_api::ABI_VERSION
    );
    let auth = plugin.new_auth(r#"{"panic_on":"bad"}"#, &host()).unwrap();
    let e = auth.authenticate(&request("bad")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.contains("boom on purpose"), "{e}");
    // Still alive, still answering.
    assert_eq!(
        auth.authenticate(&request("ok")).unwrap_err().kind,
        ErrorKind::Denied
    );

    let e = plugin.new_auth("panic", &host()).unwrap_err();
    assert!(matches!(&e.cause, LoadCause::Config(pe) if pe.kind == ErrorKind::Internal));
    let e = plugin.new_auth("{not json", &host()).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "built-in plugin 'flaky': plugin refused its configuration: invalid_input"
        ),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn kinds_are_checked() {
    let plugin = LoadedPlugin::builtin("flaky", PluginMod::auth::<Flaky>());
    let e = plugin.new_storage("{}", &host()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "built-in plugin 'flaky': is an auth plugin, not a storage plugin"
    );
    assert!(plugin.new_notifier("{}", &host()).is_err());
}

#[test]
fn missing_and_non_plugin_files_are_one_line_errors() {
    let e = LoadedPlugin::load(std::path::Path::new("/nonexistent/libnothing.so")).unwrap_err();
    assert_eq!(e.to_string(), "/nonexistent/libnothing.so: no such file");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let e = LoadedPlugin::load(&junk).unwrap_err();
    assert!(matches!(e.cause, LoadCause::NotALibrary(_)), "{e}");
    assert!(!e.to_string().contains('\n'));
}
