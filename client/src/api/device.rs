//! More than one device per user: a new device identity certified by an existing user key.

use crate::Result;
use crate::identity::Identity;

/// A new device of the same user as `user` (see [`Identity::new_device`]). The relay
/// accepts it as a further device of the user (every device of a user must carry the same
/// user key).
pub fn new_device_of(user: &Identity, now_ms: u64) -> Result<Identity> {
    user.new_device(now_ms)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use conclave_crypto_software::SoftwareProvider;

    use super::*;
    use crate::identity::verify_certificate;

    #[test]
    fn same_user_key_new_device() {
        let p = Arc::new(SoftwareProvider::new());
        let first = Identity::create(p.clone(), 1).unwrap();
        let second = new_device_of(&first, 2).unwrap();
        let v = verify_certificate(p.as_ref(), second.certificate()).unwrap();
        assert_eq!(v.user_key, first.user_public_key());
        assert_ne!(second.device_id(), first.device_id());
        assert_ne!(second.certificate().app_key, first.certificate().app_key);
    }
}
