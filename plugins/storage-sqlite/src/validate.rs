//! Argument checks shared by every area, and conversions of stored integers.
//!
//! Identifiers are lowercase hex, 1 to [`MAX_ID_LEN`] characters. Times are `u64`
//! milliseconds but SQLite integers are signed: stored times above `i64::MAX` are refused,
//! and query times (`now_ms`) above it are clamped (no stored time is larger).

use conclave_plugin_api::PluginError;

use crate::error::corrupt;

/// The longest accepted identifier, in hex characters (64 bytes).
pub const MAX_ID_LEN: usize = 128;

/// Checks an identifier argument: `InvalidInput` naming `field` unless lowercase hex.
pub fn id(field: &str, value: &str) -> Result<(), PluginError> {
    if value.is_empty() {
        return Err(PluginError::invalid(format!("{field} is empty")));
    }
    if value.len() > MAX_ID_LEN {
        return Err(PluginError::invalid(format!(
            "{field} is {} characters long, at most {MAX_ID_LEN} are allowed",
            value.len()
        )));
    }
    if !value
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(PluginError::invalid(format!(
            "{field} is not lowercase hex"
        )));
    }
    Ok(())
}

/// A time to store: `InvalidInput` above `i64::MAX`.
pub fn time(field: &str, ms: u64) -> Result<i64, PluginError> {
    i64::try_from(ms).map_err(|_| {
        PluginError::invalid(format!(
            "{field} is {ms}, larger than the largest storable time {}",
            i64::MAX
        ))
    })
}

/// A time to compare with: clamped to `i64::MAX`.
pub fn query_time(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A stored time read back: `Internal` if negative (this plugin never stores one).
pub fn stored_time(what: &str, ms: i64) -> Result<u64, PluginError> {
    u64::try_from(ms).map_err(|_| corrupt(what, format!("negative time {ms}")))
}

/// A stored count read back.
pub fn stored_count(what: &str, n: i64) -> Result<u64, PluginError> {
    u64::try_from(n).map_err(|_| corrupt(what, format!("negative count {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_plugin_api::ErrorKind;

    #[test]
    fn ids() {
        assert!(id("device id", "0123456789abcdef").is_ok());
        assert!(id("device id", &"a".repeat(MAX_ID_LEN)).is_ok());
        for bad in ["", "ABCD", "12 4", "xyz", "é", &"a".repeat(MAX_ID_LEN + 1)] {
            let e = id("device id", bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidInput);
            assert!(e.message.starts_with("device id "), "{e}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(time("t", 5).unwrap(), 5);
        assert_eq!(time("t", i64::MAX as u64).unwrap(), i64::MAX);
        assert_eq!(
            time("t", u64::MAX).unwrap_err().kind,
            ErrorKind::InvalidInput
        );
        assert_eq!(query_time(u64::MAX), i64::MAX);
        assert_eq!(stored_time("x", 7).unwrap(), 7);
        assert_eq!(stored_time("x", -1).unwrap_err().kind, ErrorKind::Internal);
        assert_eq!(stored_count("x", -1).unwrap_err().kind, ErrorKind::Internal);
    }
}
