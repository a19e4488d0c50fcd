//! Conclave auth plugin: JWT bearer tokens (HS256, ES256)
