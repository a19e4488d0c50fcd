//! Development credentials: `dev:<user_hash>[:<device_id>]`, accepted only in `dev` mode
//! (which the configuration refuses unless the relay listens on loopback only).

use abi_stable::std_types::{ROption, RString, RVec};
use conclave_plugin_api::PluginError;
use conclave_plugin_api::auth::{Action, Principal};

/// How long a development principal is valid, from the request's clock.
const DEV_VALIDITY_MS: u64 = 24 * 3600 * 1000;
const MAX_ID_LEN: usize = 128;

/// A parsed development credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevCredential {
    user_hash: String,
    device_id: Option<String>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `None` when `credential` is not a development credential at all; `Some(Err)` when it has
/// the `dev:` prefix but is malformed.
pub(crate) fn parse(credential: &str) -> Option<Result<DevCredential, PluginError>> {
    let rest = credential.strip_prefix("dev:")?;
    let mut parts = rest.split(':');
    let user = parts.next().unwrap_or_default();
    let device = parts.next();
    if parts.next().is_some() || !valid_id(user) || device.is_some_and(|d| !valid_id(d)) {
        return Some(Err(PluginError::denied("malformed dev credential")));
    }
    Some(Ok(DevCredential {
        user_hash: user.to_string(),
        device_id: device.map(str::to_string),
    }))
}

impl DevCredential {
    /// Every action on every meeting, for a day from `now_ms`.
    pub(crate) fn principal(self, now_ms: u64) -> Principal {
        Principal {
            subject: RString::from(self.user_hash),
            device_id: ROption::from(self.device_id.map(RString::from)),
            meetings: RVec::from(vec![RString::from("*")]),
            actions: RVec::from(Action::ALL.to_vec()),
            expires_ms: now_ms.saturating_add(DEV_VALIDITY_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_and_optional_device() {
        let d = parse("dev:abc").unwrap().unwrap();
        assert_eq!(d.user_hash, "abc");
        assert_eq!(d.device_id, None);
        let d = parse("dev:abc:dev-1").unwrap().unwrap();
        assert_eq!(d.device_id.as_deref(), Some("dev-1"));
        assert!(parse("eyJ.x.y").is_none());
        assert!(parse("Dev:abc").is_none());
        for bad in ["dev:", "dev::x", "dev:a:", "dev:a:b:c", "dev:a b", "dev:ü"] {
            assert!(parse(bad).unwrap().is_err(), "{bad}");
        }
        let long = format!("dev:{}", "a".repeat(MAX_ID_LEN + 1));
        assert!(parse(&long).unwrap().is_err());
    }
}
