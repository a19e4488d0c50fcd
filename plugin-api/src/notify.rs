//! Notification plugins: deliver lifecycle events to an external system.

// The `#[sabi_trait]` expansion implements abi_stable traits from inside a const block.
#![allow(non_local_definitions)]

use abi_stable::StableAbi;
use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RString};

use crate::module::HostContext;
use crate::{PluginError, PluginResult, guard};

/// What happened.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A container waits for a device that is not connected.
    MessageWaiting = 1,
    /// A device was invited to a meeting.
    MeetingInvite = 2,
    MeetingEnded = 3,
    /// A device's one-time prekey pool runs low: it should upload more.
    PrekeyPoolLow = 4,
    DeviceRegistered = 5,
    DeviceRevoked = 6,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageWaiting => "message_waiting",
            EventKind::MeetingInvite => "meeting_invite",
            EventKind::MeetingEnded => "meeting_ended",
            EventKind::PrekeyPoolLow => "prekey_pool_low",
            EventKind::DeviceRegistered => "device_registered",
            EventKind::DeviceRevoked => "device_revoked",
        }
    }
}

/// An event. It never carries message content or keys: only identifiers and counts.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique per event, so that receivers can drop duplicates of retried deliveries.
    pub id: RString,
    pub kind: EventKind,
    /// The user hash concerned.
    pub user_hash: RString,
    pub device_id: ROption<RString>,
    pub meeting_id: ROption<RString>,
    /// A count where the kind has one (messages waiting, prekeys left), else 0.
    pub count: u64,
    /// When it happened (ms since the Unix epoch).
    pub at_ms: u64,
}

/// Delivery counters of a notifier.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierStats {
    pub delivered: u64,
    /// Deliveries that failed for good (after the plugin's own retries).
    pub failed: u64,
    /// Events refused because a bounded queue was full.
    pub dropped: u64,
    /// Events waiting in the plugin's queue.
    pub queued: u64,
}

/// The FFI-safe notification plugin interface. Methods are only ever added at the end.
#[sabi_trait]
pub trait NotificationPlugin: Send + Sync {
    /// Hands an event over. `Ok` means delivered or accepted into the plugin's queue;
    /// [`crate::ErrorKind::Unavailable`] means the host should retry later.
    fn deliver(&self, event: &Event) -> PluginResult<()>;

    fn stats(&self) -> NotifierStats;

    /// Waits up to `timeout_ms` for queued events to be delivered (at shutdown).
    #[sabi(last_prefix_field)]
    fn flush(&self, timeout_ms: u64) -> PluginResult<()>;
}

pub type NotifierBox = NotificationPlugin_TO<'static, RBox<()>>;

/// What a notification plugin author implements.
pub trait Notifier: Send + Sync + Sized + 'static {
    const NAME: &'static str;
    const VERSION: &'static str;

    fn from_config(config: &str, host: &HostContext) -> Result<Self, PluginError>;

    fn deliver(&self, event: &Event) -> Result<(), PluginError>;

    fn stats(&self) -> NotifierStats {
        NotifierStats::default()
    }

    fn flush(&self, _timeout_ms: u64) -> Result<(), PluginError> {
        Ok(())
    }
}

struct Adapter<T>(T);

impl<T: Notifier> NotificationPlugin for Adapter<T> {
    fn deliver(&self, event: &Event) -> PluginResult<()> {
        guard(|| self.0.deliver(event))
    }

    fn stats(&self) -> NotifierStats {
        guard(|| Ok(self.0.stats())).unwrap_or_default()
    }

    fn flush(&self, timeout_ms: u64) -> PluginResult<()> {
        guard(|| self.0.flush(timeout_ms))
    }
}

pub(crate) fn boxed<T: Notifier>(config: &str, host: &HostContext) -> PluginResult<NotifierBox> {
    guard(|| {
        let plugin = T::from_config(config, host)?;
        Ok(NotificationPlugin_TO::from_value(
            Adapter(plugin),
            abi_stable::sabi_trait::TD_Opaque,
        ))
    })
}
