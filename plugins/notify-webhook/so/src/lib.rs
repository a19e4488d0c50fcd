//! The webhook notification plugin as a loadable shared library
