//! The token claims: the public [`Claims`] used for minting, and validation of a verified
//! payload into a [`Principal`].

use abi_stable::std_types::{ROption, RString, RVec};
use conclave_plugin_api::PluginError;
use conclave_plugin_api::auth::{Action, Principal};
use serde::{Deserialize, Serialize};
use serde_json::Number;

use crate::config::Config;

/// The meetings a token allows (`mtg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Meetings {
    /// A list of meeting ids (`"*"` among them allows every meeting).
    List(Vec<String>),
    /// A single id, or `"*"` for every meeting.
    One(String),
}

impl Meetings {
    /// Every meeting (`"*"`).
    pub fn all() -> Meetings {
        Meetings::One("*".into())
    }

    /// No meeting at all.
    pub fn none() -> Meetings {
        Meetings::List(Vec::new())
    }

    fn is_empty(&self) -> bool {
        matches!(self, Meetings::List(list) if list.is_empty())
    }

    fn into_vec(self) -> Vec<String> {
        match self {
            Meetings::List(list) => list,
            Meetings::One(id) => vec![id],
        }
    }
}

impl Default for Meetings {
    fn default() -> Self {
        Meetings::none()
    }
}

/// The claims of a Conclave token, as minted by [`crate::mint_hs256`] and
/// [`crate::mint_es256`]. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The user hash.
    pub sub: String,
    /// The device the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(skip_serializing_if = "Meetings::is_empty")]
    pub mtg: Meetings,
    /// Action names ([`Action::as_str`]).
    pub act: Vec<String>,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// Claims for `sub` allowing `actions` until `exp` (seconds), no meetings.
    pub fn new(sub: &str, actions: &[Action], exp: u64) -> Claims {
        Claims {
            sub: sub.to_string(),
            dev: None,
            mtg: Meetings::none(),
            act: actions.iter().map(|a| a.as_str().to_string()).collect(),
            exp,
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        }
    }
}

/// `aud`: one string or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

/// The claims as read from a verified token; unknown claims are ignored.
#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default)]
    mtg: Meetings,
    #[serde(default)]
    act: Vec<String>,
    exp: Number,
    #[serde(default)]
    nbf: Option<Number>,
    #[serde(default)]
    iat: Option<Number>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
}

/// A NumericDate (seconds, possibly fractional; RFC 7519 §2) in milliseconds.
fn numeric_date_ms(n: &Number) -> Result<u64, PluginError> {
    if let Some(s) = n.as_u64() {
        return Ok(s.saturating_mul(1000));
    }
    match n.as_f64() {
        // `as` saturates at u64::MAX for huge values.
        Some(f) if f.is_finite() && f >= 0.0 => Ok((f * 1000.0) as u64),
        _ => Err(PluginError::denied("malformed time claim")),
    }
}

/// A claims error that never quotes claim values (serde's type errors would).
fn claims_error(e: &serde_json::Error) -> PluginError {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name: String = rest.chars().take_while(|c| *c != '`').collect();
        return PluginError::denied(format!("missing claim {name}"));
    }
    PluginError::denied("malformed claims")
}

/// Checks a verified payload's claims against the configuration and `now_ms`, and returns
/// the principal it describes (not yet checked against the request's action).
pub(crate) fn validate(
    payload: &[u8],
    config: &Config,
    now_ms: u64,
) -> Result<Principal, PluginError> {
    let claims: RawClaims = serde_json::from_slice(payload).map_err(|e| claims_error(&e))?;
    let leeway = config.leeway_ms;
    let exp_ms = numeric_date_ms(&claims.exp)?;
    if now_ms >= exp_ms.saturating_add(leeway) {
        return Err(PluginError::denied("token expired"));
    }
    if let Some(nbf) = &claims.nbf
        && now_ms.saturating_add(leeway) < numeric_date_ms(nbf)?
    {
        return Err(PluginError::denied("token not yet valid"));
    }
    if let Some(iat) = &claims.iat
        && now_ms.saturating_add(leeway) < numeric_date_ms(iat)?
    {
        return Err(PluginError::denied("token issued in the future"));
    }
    if let Some(issuer) = &config.issuer
        && claims.iss.as_deref() != Some(issuer.as_str())
    {
        return Err(PluginError::denied("wrong issuer"));
    }
    match (&config.audience, &claims.aud) {
        (Some(wanted), Some(aud)) if aud.contains(wanted) => {}
        (None, None) => {}
        _ => return Err(PluginError::denied("wrong audience")),
    }
    if claims.sub.is_empty() {
        return Err(PluginError::denied("missing claim sub"));
    }
    if claims.dev.as_deref() == Some("") {
        return Err(PluginError::denied("malformed claims"));
    }
    let mut actions: Vec<Action> = claims.act.iter().filter_map(|a| Action::parse(a)).collect();
    actions.sort();
    actions.dedup();
    Ok(Principal {
        subject: RString::from(claims.sub),
        device_id: ROption::from(claims.dev.map(RString::from)),
        meetings: claims
            .mtg
            .into_vec()
            .into_iter()
            .map(RString::from)
            .collect::<RVec<_>>(),
        actions: RVec::from(actions),
        expires_ms: exp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates() {
        let ms = |v: serde_json::Value| numeric_date_ms(&serde_json::from_value(v).unwrap());
        assert_eq!(ms(serde_json::json!(12)).unwrap(), 12_000);
        assert_eq!(ms(serde_json::json!(1.5)).unwrap(), 1_500);
        assert_eq!(ms(serde_json::json!(u64::MAX)).unwrap(), u64::MAX);
        assert_eq!(ms(serde_json::json!(1e300)).unwrap(), u64::MAX);
        assert!(ms(serde_json::json!(-1)).is_err());
        assert!(ms(serde_json::json!(-0.5)).is_err());
    }

    #[test]
    fn claim_errors_never_quote_values() {
        let e = serde_json::from_str::<RawClaims>(r#"{"sub":"s3cr3t-ish","exp":"s3cr3t"}"#)
            .err()
            .unwrap();
        let e = claims_error(&e);
        assert!(!e.message.contains("s3cr3t"), "{e}");
        let e = serde_json::from_str::<RawClaims>(r#"{"sub":"x"}"#)
            .err()
            .unwrap();
        assert_eq!(claims_error(&e).message.as_str(), "missing claim exp");
    }
}
