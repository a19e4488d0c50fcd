//! The configuration: `{"target": "stderr"}` or `{"target": "file", "path": "..."}`.

use std::path::PathBuf;

use conclave_plugin_api::PluginError;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    path: Option<PathBuf>,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Stderr,
    File(PathBuf),
}

/// Parses the configuration; an empty one means standard error.
pub(crate) fn parse(json: &str) -> Result<Target, PluginError> {
    if json.trim().is_empty() {
        return Ok(Target::Stderr);
    }
    let raw: RawConfig = serde_json::from_str(json)
        .map_err(|e| PluginError::invalid(format!("invalid config: {e}")))?;
    match (raw.target.as_deref(), raw.path) {
        (None | Some("stderr"), None) => Ok(Target::Stderr),
        (None | Some("stderr"), Some(_)) => {
            Err(PluginError::invalid("`path` is only for target \"file\""))
        }
        (Some("file"), Some(path)) if !path.as_os_str().is_empty() => Ok(Target::File(path)),
        (Some("file"), _) => Err(PluginError::invalid("target \"file\" needs a `path`")),
        (Some(_), _) => Err(PluginError::invalid(
            "target must be \"stderr\" or \"file\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse("").unwrap(), Target::Stderr);
        assert_eq!(parse("{}").unwrap(), Target::Stderr);
        assert_eq!(parse(r#"{"target":"stderr"}"#).unwrap(), Target::Stderr);
        assert_eq!(
            parse(r#"{"target":"file","path":"x.log"}"#).unwrap(),
            Target::File("x.log".into())
        );
        for bad in [
            r#"{"target":"file"}"#,
            r#"{"target":"file","path":""}"#,
            r#"{"target":"stdout"}"#,
            r#"{"path":"x"}"#,
            r#"{"target":"stderr","colour":true}"#,
            "[",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
