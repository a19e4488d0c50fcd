//! Authenticating requests through the auth plugin.

use axum::http::{HeaderMap, header};
use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::auth::{Action, AuthRequest};

use super::error::{ApiError, ApiResult};
use super::state::{AppState, blocking, now_ms};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user hash.
    pub subject: String,
    pub device_id: Option<String>,
}

impl Caller {
    /// The caller's device, for endpoints that act for a device.
    pub fn device(&self) -> ApiResult<&str> {
        self.device_id
            .as_deref()
            .ok_or_else(|| ApiError::forbidden("this endpoint needs a device-bound credential"))
    }

    /// Fails unless the caller is the user `user_hash`.
    pub fn must_be(&self, user_hash: &str) -> ApiResult<()> {
        if self.subject == user_hash {
            Ok(())
        } else {
            Err(ApiError::forbidden("only the user themselves may do this"))
        }
    }
}

/// The bearer credential of a request: the `Authorization` header, else `token` from the
/// query (for WebSockets, which browsers open without headers).
pub fn credential(headers: &HeaderMap, query_token: Option<&str>) -> ApiResult<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        return text
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("expected 'Authorization: Bearer <credential>'")
            });
    }
    query_token
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::unauthorized("missing credential"))
}

/// Largest credential passed to the auth plugin.
const MAX_CREDENTIAL: usize = 8 * 1024;

impl AppState {
    /// Authenticates the credential for `action` on `resource` (a user hash, a meeting id,
    /// or empty).
    pub async fn authenticate(
        &self,
        credential: String,
        action: Action,
        resource: &str,
    ) -> ApiResult<Caller> {
        if credential.len() > MAX_CREDENTIAL {
            return Err(ApiError::unauthorized("credential too long"));
        }
        let auth = self.plugins.auth.clone();
        let request = AuthRequest {
            credential: credential.into(),
            action,
            resource: resource.into(),
            now_ms: now_ms(),
        };
        let principal = tokio::task::spawn_blocking(move || auth.authenticate(&request))
            .await
            .map_err(|_| ApiError::internal("the auth plugin call was aborted"))?
            .map_err(|e| match e.kind {
                ErrorKind::Denied => ApiError::unauthorized(e.message.to_string()),
                _ => ApiError::from(e),
            })?;
        if !principal.allows(action, resource) {
            return Err(ApiError::forbidden(format!(
                "the credential does not allow {}",
                action.as_str()
            )));
        }
        Ok(Caller {
            subject: principal.subject.to_string(),
            device_id: principal.device_id.into_option().map(|d| d.to_string()),
        })
    }

    /// Fails unless `caller` may reach `target` under the target's privacy settings.
    pub async fn check_reach(&self, caller: &Caller, target: &str) -> ApiResult<()> {
        if caller.subject == target {
            return Ok(());
        }
        let storage = self.plugins.storage.clone();
        let target = target.to_string();
        let subject = caller.subject.clone();
        blocking(move || {
            use conclave_plugin_api::PluginError;
            use conclave_plugin_api::storage::{ListKind, PrivacyMode};
            let user = storage
                .get_user(&target)?
                .ok_or_else(|| PluginError::not_found("no such user"))?;
            if storage
                .get_list(&target, ListKind::Deny)?
                .contains(&subject)
            {
                return Err(PluginError::denied(
                    "the user does not accept contact from you",
                ));
            }
            if user.privacy == PrivacyMode::AllowList
                && !storage
                    .get_list(&target, ListKind::Allow)?
                    .contains(&subject)
            {
                return Err(PluginError::denied(
                    "the user does not accept contact from you",
                ));
            }
            Ok(())
        })
        .await
    }
}
