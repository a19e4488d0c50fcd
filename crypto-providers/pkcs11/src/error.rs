//! Turning PKCS#11 failures into [`CryptoError`]s.
//!
//! Every message names the operation and the PKCS#11 return value, never an input: no PIN,
//! key bytes, plaintext or shared secret can reach an error, a log line or a panic message.

use conclave_crypto::CryptoError;
use cryptoki::error::{Error, RvError};

/// The operations of this provider, named in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Login,
    OpenSession,
    FindToken,
    GenerateKeyPair,
    ImportKey,
    FindKey,
    ReadAttributes,
    Sign,
    Derive,
    Random,
    CreateAesKey,
    Encrypt,
    Decrypt,
    DestroyObject,
    CopyObject,
}

impl Op {
    /// A short description for messages.
    pub(crate) const fn describe(self) -> &'static str {
        match self {
            Op::Login => "login (C_Login)",
            Op::OpenSession => "opening a session (C_OpenSession)",
            Op::FindToken => "looking up the token (C_GetSlotList/C_GetTokenInfo)",
            Op::GenerateKeyPair => "P-256 key generation (C_GenerateKeyPair)",
            Op::ImportKey => "P-256 key import (C_CreateObject)",
            Op::FindKey => "finding a key object (C_FindObjects)",
            Op::ReadAttributes => "reading object attributes (C_GetAttributeValue)",
            Op::Sign => "ECDSA signing (C_Sign with CKM_ECDSA)",
            Op::Derive => "ECDH (C_DeriveKey with CKM_ECDH1_DERIVE)",
            Op::Random => "random generation (C_GenerateRandom)",
            Op::CreateAesKey => "creating an AES key object (C_CreateObject)",
            Op::Encrypt => "AES-GCM encryption (C_Encrypt with CKM_AES_GCM)",
            Op::Decrypt => "AES-GCM decryption (C_Decrypt with CKM_AES_GCM)",
            Op::DestroyObject => "destroying a key object (C_DestroyObject)",
            Op::CopyObject => "making a session key a token key (C_CopyObject)",
        }
    }

    /// The `Unsupported` message when the token rejects the mechanism of this operation.
    const fn unsupported(self) -> &'static str {
        match self {
            Op::GenerateKeyPair => {
                "PKCS#11 token rejected CKM_EC_KEY_PAIR_GEN on P-256 (key generation)"
            }
            Op::ImportKey => "PKCS#11 token refuses to import P-256 private keys",
            Op::Sign => "PKCS#11 token rejected CKM_ECDSA (signing)",
            Op::Derive => "PKCS#11 token rejected CKM_ECDH1_DERIVE with CKD_NULL (ECDH)",
            Op::CreateAesKey | Op::Encrypt | Op::Decrypt => {
                "PKCS#11 token rejected CKM_AES_GCM (in-token frame encryption)"
            }
            Op::Random => "PKCS#11 token has no random generator (C_GenerateRandom)",
            Op::CopyObject => {
                "PKCS#11 token cannot turn a session key into a token key (C_CopyObject): \
                 imported and ephemeral keys cannot be persisted on it"
            }
            _ => "PKCS#11 token rejected a mechanism",
        }
    }
}

/// True for return values that mean the token, its session or the device went away.
pub(crate) fn is_token_gone(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::DeviceError
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::CryptokiNotInitialized
            | RvError::SlotIdInvalid
    )
}

/// Maps a `cryptoki` error of `op` on the token labelled `token`.
pub(crate) fn token_error(op: Op, token: &str, e: &Error) -> CryptoError {
    match e {
        Error::Pkcs11(rv, _) => rv_error(op, token, *rv),
        Error::LibraryLoading(_) => CryptoError::Provider(format!(
            "PKCS#11 module could not be used during {}",
            op.describe()
        )),
        // Conversions inside cryptoki: no token return value to report.
        other => CryptoError::Provider(format!(
            "PKCS#11 {} failed in the cryptoki layer: {}",
            op.describe(),
            cryptoki_kind(other)
        )),
    }
}

/// Maps a PKCS#11 return value of `op` on the token labelled `token`.
pub(crate) fn rv_error(op: Op, token: &str, rv: RvError) -> CryptoError {
    match rv {
        RvError::PinIncorrect => CryptoError::Provider(format!(
            "PKCS#11 login to token '{token}' failed: the PIN is incorrect (CKR_PIN_INCORRECT)"
        )),
        RvError::PinLocked => CryptoError::Provider(format!(
            "PKCS#11 login to token '{token}' failed: the user PIN is locked (CKR_PIN_LOCKED)"
        )),
        RvError::PinExpired => CryptoError::Provider(format!(
            "PKCS#11 login to token '{token}' failed: the user PIN has expired (CKR_PIN_EXPIRED)"
        )),
        RvError::PinLenRange | RvError::PinInvalid => CryptoError::Provider(format!(
            "PKCS#11 login to token '{token}' failed: the PIN has an invalid length or characters"
        )),
        RvError::UserPinNotInitialized => CryptoError::Provider(format!(
            "PKCS#11 token '{token}' has no user PIN yet: initialise it (C_InitPIN)"
        )),
        RvError::UserNotLoggedIn => CryptoError::Provider(format!(
            "PKCS#11 {} on token '{token}': the session is not logged in (CKR_USER_NOT_LOGGED_IN)",
            op.describe()
        )),
        RvError::MechanismInvalid | RvError::MechanismParamInvalid | RvError::CurveNotSupported => {
            CryptoError::Unsupported(op.unsupported())
        }
        RvError::FunctionNotSupported
            if matches!(op, Op::ImportKey | Op::Random | Op::CopyObject) =>
        {
            CryptoError::Unsupported(op.unsupported())
        }
        RvError::TemplateInconsistent
        | RvError::TemplateIncomplete
        | RvError::AttributeValueInvalid
        | RvError::AttributeTypeInvalid
        | RvError::ActionProhibited
        | RvError::AttributeReadOnly
            if matches!(op, Op::ImportKey | Op::CopyObject) =>
        {
            CryptoError::Unsupported(op.unsupported())
        }
        rv if is_token_gone(rv) => CryptoError::Provider(format!(
            "PKCS#11 token '{token}' is not available during {} ({rv:?}): \
             was the token removed or the device disconnected?",
            op.describe()
        )),
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => CryptoError::Provider(format!(
            "PKCS#11 {} on token '{token}' failed: the key object no longer exists ({rv:?}); \
             was it destroyed, or the token removed?",
            op.describe()
        )),
        RvError::DeviceMemory => CryptoError::Provider(format!(
            "PKCS#11 token '{token}' is out of memory during {} (CKR_DEVICE_MEMORY)",
            op.describe()
        )),
        rv => CryptoError::Provider(format!(
            "PKCS#11 {} on token '{token}' failed: {rv:?}",
            op.describe()
        )),
    }
}

/// The kind of a non-PKCS#11 cryptoki error, without any value it may carry.
fn cryptoki_kind(e: &Error) -> &'static str {
    match e {
        Error::LibraryLoading(_) => "library loading",
        Error::Pkcs11(..) => "PKCS#11 return value",
        Error::NotSupported => "feature not supported by cryptoki",
        Error::TryFromInt(_) | Error::TryFromSlice(_) | Error::ParseInt(_) => "size conversion",
        Error::Utf8(_) => "invalid UTF-8",
        Error::NulError(_) => "interior NUL byte",
        Error::NullFunctionPointer => "function missing from the module",
        Error::MissingSymbol(_) => "symbol missing from the module",
        Error::InvalidValue => "unexpected value",
        Error::PinNotSet => "PIN not set",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_errors_name_the_token_not_the_pin() {
        let e = rv_error(Op::Login, "conclave", RvError::PinIncorrect);
        let CryptoError::Provider(msg) = e else {
            panic!("expected Provider, got {e:?}")
        };
        assert!(msg.contains("PIN is incorrect") && msg.contains("'conclave'"));
    }

    #[test]
    fn mechanism_errors_are_unsupported() {
        for op in [Op::Sign, Op::Derive, Op::Encrypt, Op::GenerateKeyPair] {
            assert!(matches!(
                rv_error(op, "t", RvError::MechanismInvalid),
                CryptoError::Unsupported(_)
            ));
        }
        assert!(matches!(
            rv_error(Op::ImportKey, "t", RvError::TemplateInconsistent),
            CryptoError::Unsupported(_)
        ));
    }

    #[test]
    fn removal_errors_say_so() {
        for rv in [
            RvError::DeviceRemoved,
            RvError::TokenNotPresent,
            RvError::SessionHandleInvalid,
        ] {
            let CryptoError::Provider(msg) = rv_error(Op::Sign, "t", rv) else {
                panic!("expected Provider")
            };
            assert!(msg.contains("not available"), "{msg}");
        }
    }
}
