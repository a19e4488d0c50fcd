use conclave_crypto::CryptoError;
use conclave_wire::WireError;
use thiserror::Error;

/// Errors of the protocol library. Messages name the problem, never key material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("malformed input: {0}")]
    Wire(#[from] WireError),

    // Identities and bundles.
    #[error("device certificate signature is invalid")]
    BadCertificate,
    #[error("prekey {0} has an invalid signature")]
    BadPrekeySignature(u32),
    #[error("bundle has no prekeys")]
    NoPrekeys,
    #[error("sender user key is not the expected one")]
    UntrustedSender,

    // Containers.
    #[error("container signature is invalid")]
    BadContainerSignature,
    #[error("this device is not a recipient of the container")]
    NotARecipient,
    #[error("prekey {0} was already consumed")]
    PrekeyConsumed(u32),
    #[error("prekey {0} is unknown to this device")]
    UnknownPrekey(u32),
    #[error("container key does not match its commitment")]
    CommitmentMismatch,
    #[error("container could not be decrypted")]
    DecryptFailed,
    #[error("container expired at {expired_ms} ms (now {now_ms} ms)")]
    Expired { expired_ms: u64, now_ms: u64 },
    #[error("container created in the future ({created_ms} ms, now {now_ms} ms)")]
    FromTheFuture { created_ms: u64, now_ms: u64 },
    #[error("sender is not a member of the meeting's current epoch")]
    NotAMember,
    #[error("container was already seen (replay)")]
    Replay,
    #[error("stale epoch {got}: current epoch is {current}")]
    StaleEpoch { got: u64, current: u64 },
    #[error("invalid payload: {0}")]
    BadPayload(String),
    #[error("payload type {payload} does not match container type {header}")]
    TypeMismatch {
        header: &'static str,
        payload: &'static str,
    },
    #[error("ttl must be 1..={max} seconds, got {got}")]
    BadTtl { got: u32, max: u32 },
    #[error("too many recipients: {0}")]
    TooManyRecipients(usize),

    // Meetings and SFrame.
    #[error("unsupported SFrame cipher suite {0:#06x}")]
    UnsupportedSuite(u16),
    #[error("SFrame KID {0:#x} already has a key")]
    DuplicateKid(u64),
    #[error("no key for SFrame KID {0:#x}")]
    UnknownKid(u64),
    #[error("SFrame frame was replayed or is too old (KID {kid:#x}, CTR {ctr})")]
    FrameReplay { kid: u64, ctr: u64 },
    #[error("SFrame frame failed authentication")]
    FrameAuthFailed,
    #[error("SFrame counter exhausted for this key")]
    CounterExhausted,
    #[error("roster is invalid: {0}")]
    BadRoster(&'static str),
    #[error("rekey switch time {switch_at_ms} ms is too far ahead (now {now_ms} ms)")]
    SwitchTooFar { switch_at_ms: u64, now_ms: u64 },
    #[error("HPKE sequence number exhausted")]
    HpkeSequenceExhausted,

    // Storage of identities.
    #[error("{path}: {problem}")]
    Store { path: String, problem: String },
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
