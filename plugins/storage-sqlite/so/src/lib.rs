//! The SQLite storage plugin as a loadable shared library
