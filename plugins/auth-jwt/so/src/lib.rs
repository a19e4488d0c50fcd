//! The JWT auth plugin as a loadable shared library
