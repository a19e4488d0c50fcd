//! Auth plugins: authenticate a bearer credential for an action and return the principal.

// The `#[sabi_trait]` expansion implements abi_stable traits from inside a const block.
#![allow(non_local_definitions)]

use abi_stable::StableAbi;
use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RString, RVec};

use crate::module::HostContext;
use crate::{PluginError, PluginResult, guard};

/// What a request wants to do.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    RegisterUser = 1,
    RegisterDevice = 2,
    UploadPrekeys = 3,
    FetchBundle = 4,
    SendContainer = 5,
    FetchMessages = 6,
    CreateMeeting = 7,
    JoinMeeting = 8,
    Admin = 9,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::RegisterUser,
        Action::RegisterDevice,
        Action::UploadPrekeys,
        Action::FetchBundle,
        Action::SendContainer,
        Action::FetchMessages,
        Action::CreateMeeting,
        Action::JoinMeeting,
        Action::Admin,
    ];

    /// The name used in tokens and configuration (`register_user`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RegisterUser => "register_user",
            Action::RegisterDevice => "register_device",
            Action::UploadPrekeys => "upload_prekeys",
            Action::FetchBundle => "fetch_bundle",
            Action::SendContainer => "send_container",
            Action::FetchMessages => "fetch_messages",
            Action::CreateMeeting => "create_meeting",
            Action::JoinMeeting => "join_meeting",
            Action::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Actions that concern one meeting: the request's `resource` is its id.
    pub fn is_meeting_scoped(self) -> bool {
        matches!(self, Action::CreateMeeting | Action::JoinMeeting)
    }
}

/// A request to authenticate.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The bearer credential, without the `Bearer ` prefix.
    pub credential: RString,
    pub action: Action,
    /// What the action is about: the meeting id (hex) for meeting actions, the user hash for
    /// user and device registration, empty otherwise.
    pub resource: RString,
    /// The master clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Who a credential belongs to and what it allows.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user hash the credential is for.
    pub subject: RString,
    /// The device, when the credential is bound to one.
    pub device_id: ROption<RString>,
    /// Meetings the principal may create or join; `*` allows every meeting.
    pub meetings: RVec<RString>,
    /// Actions the principal may perform.
    pub actions: RVec<Action>,
    /// When the credential expires (ms since the Unix epoch).
    pub expires_ms: u64,
}

impl Principal {
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.actions.contains(&action)
            && (!action.is_meeting_scoped()
                || self
                    .meetings
                    .iter()
                    .any(|m| m.as_str() == "*" || m.as_str() == resource))
    }
}

/// The FFI-safe auth plugin interface. Methods are only ever added at the end.
#[sabi_trait]
pub trait AuthPlugin: Send + Sync {
    /// Authenticates `request.credential` for `request.action` on `request.resource`.
    /// Denials are [`crate::ErrorKind::Denied`] with a reason safe to show to the caller.
    #[sabi(last_prefix_field)]
    fn authenticate(&self, request: &AuthRequest) -> PluginResult<Principal>;
}

/// An auth plugin as the host holds it.
pub type AuthBox = AuthPlugin_TO<'static, RBox<()>>;

/// What an auth plugin author implements.
pub trait Auth: Send + Sync + Sized + 'static {
    /// The plugin's name (e.g. `jwt`).
    const NAME: &'static str;
    /// The plugin's own version.
    const VERSION: &'static str;

    /// Builds the plugin from its JSON configuration.
    fn from_config(config: &str, host: &HostContext) -> Result<Self, PluginError>;

    fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError>;
}

struct Adapter<T>(T);

impl<T: Auth> AuthPlugin for Adapter<T> {
    fn authenticate(&self, request: &AuthRequest) -> PluginResult<Principal> {
        guard(|| self.0.authenticate(request))
    }
}

pub(crate) fn boxed<T: Auth>(config: &str, host: &HostContext) -> PluginResult<AuthBox> {
    guard(|| {
        let plugin = T::from_config(config, host)?;
        Ok(AuthPlugin_TO::from_value(
            Adapter(plugin),
            abi_stable::sabi_trait::TD_Opaque,
        ))
    })
}
