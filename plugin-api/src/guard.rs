use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::std_types::RResult;

use crate::PluginError;

/// Runs a plugin entry point, turning a panic into [`crate::ErrorKind::Internal`].
///
/// abi_stable aborts the whole process when a panic crosses the FFI boundary, so every
/// entry point of a plugin runs inside this guard (the adapters of this crate do it).
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RResult::RErr(PluginError::internal(format!("plugin panicked: {what}")))
        }
    }
}
