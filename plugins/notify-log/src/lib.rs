//! Conclave notification plugin: structured log lines
