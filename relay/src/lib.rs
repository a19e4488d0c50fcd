//! The Conclave relay. Today: configuration and run-time plugins (auth, storage,
//! notification), and the plugin author's `plugin check`. The control plane and the media
//! plane build on these.

pub mod check;
pub mod config;
pub mod plugins;
