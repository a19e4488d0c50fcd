//! The log notification plugin as a loadable shared library
