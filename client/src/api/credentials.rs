//! How a session proves who it is to the relay.

/// The credential a session presents as `Authorization: Bearer …`.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// The relay's development auth (`jwt` plugin in `dev` mode, loopback relays only):
    /// `dev:<user_hash>:<device_id>`, derived from the session's own identity.
    #[default]
    Dev,
    /// A token issued by the deployment (e.g. a JWT for the `jwt` plugin), sent as is.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Dev => f.write_str("Credentials::Dev"),
            Credentials::Token(_) => f.write_str("Credentials::Token(redacted)"),
        }
    }
}

impl Credentials {
    /// The bearer string for a user and, optionally, one of its devices.
    pub fn bearer(&self, user_hash: &str, device_id: Option<&str>) -> String {
        match (self, device_id) {
            (Credentials::Dev, Some(d)) => format!("dev:{user_hash}:{d}"),
            (Credentials::Dev, None) => format!("dev:{user_hash}"),
            (Credentials::Token(t), _) => t.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_and_token_bearers() {
        assert_eq!(Credentials::Dev.bearer("ab", Some("cd")), "dev:ab:cd");
        assert_eq!(Credentials::Dev.bearer("ab", None), "dev:ab");
        let t = Credentials::Token("eyJ.x.y".into());
        assert_eq!(t.bearer("ab", Some("cd")), "eyJ.x.y");
        assert!(!format!("{t:?}").contains("eyJ"));
    }
}
