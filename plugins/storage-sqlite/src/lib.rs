//! Conclave storage plugin on SQLite (the embedded default)
