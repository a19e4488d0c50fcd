//! The Conclave relay: configuration, run-time plugins (auth, storage, notification), the
//! control plane (the `/v1` API of docs/API.md), and the plugin author's `plugin check`.

pub mod check;
pub mod config;
pub mod control;
pub mod media;
pub mod plugins;
pub mod server;
pub mod tls;
