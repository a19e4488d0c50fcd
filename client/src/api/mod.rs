//! The control-API client (docs/API.md) and the online flows built on it.
//!
//! - [`RelayClient`]: one typed async method per endpoint, over keep-alive connections,
//!   with [`ApiError`]s that carry the API's stable `code`, the status, the message and
//!   `Retry-After`.
//! - [`PushStream`]: the push WebSocket.
//! - [`Session`]: an [`crate::identity::Identity`] tied to a relay account — registration,
//!   automatic prekey refill, verified bundles, sealing and posting, and receiving with
//!   `container::open`, the replay guard and the epoch guard, persisting prekey consumption
//!   before acknowledging.
//! - [`MeetingRunner`]: one device in one meeting — the media plane joined with the join
//!   ticket, rekeys installed, and (initiator) the roster kept and rekeyed on departures,
//!   decided by the sans-IO [`membership::Membership`].
//! - [`Account`]: the `account.json` file the `conclave` CLI keeps beside an identity.
//! - [`user_hash`]: the salted username hash clients send instead of names.

mod account;
mod client;
mod credentials;
mod device;
mod error;
pub mod meeting_runner;
pub mod membership;
mod push;
mod session;
pub mod types;
mod user_hash;

pub use account::{ACCOUNT_FILE, Account, CallRecord, Contact, InviteRecord, InviteState};
pub use client::{ClientOptions, DEFAULT_TIMEOUT, RelayClient};
pub use credentials::Credentials;
pub use device::new_device_of;
pub use error::{ApiError, SdkError, SdkResult};
pub use meeting_runner::{MeetingEvent, MeetingOptions, MeetingRunner, Next, Role};
pub use push::{PushStream, push_url};
pub use session::{
    Delivered, Invitation, Received, Refused, Registration, Sent, Session, SessionEvent,
    SessionOptions, UserBundles,
};
pub use types::PushEvent;
pub use user_hash::{MAX_USERNAME_LEN, is_user_hash, user_hash};
