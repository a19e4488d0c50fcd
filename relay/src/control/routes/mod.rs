//! The `/v1` endpoints, one module per area.

pub mod devices;
pub mod meetings;
pub mod messages;
pub mod push;
pub mod system;
pub mod users;
pub mod webrtc;

/// Largest JSON body of the small endpoints.
pub const SMALL_BODY: usize = 64 * 1024;
/// Largest prekey upload body (1000 prekeys).
pub const PREKEY_BODY: usize = 512 * 1024;
