//! Conclave notification plugin: signed webhooks with retries
