//! `conclave-loadtest`: many-party end-to-end encrypted conferences against a Conclave
//! relay — real identities, invites, SFrame encryption and rekeys — with the measurements
//! that matter for E2EE calls, and the machine's raw UDP fan-out limit measured in the same
//! run so that every relay figure is a ratio to it.

pub mod baseline;
pub mod monitor;
pub mod plot;
pub mod procstat;
pub mod record;
pub mod relay;
pub mod report;
pub mod run;
pub mod saturate;
pub mod scenario;
pub mod scrape;
pub mod slo;
pub mod stats;
pub mod webrtc;
