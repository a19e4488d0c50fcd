//! The secure communication container and the device certificate, as bytes.
//!
//! This module only encodes and parses; signing, wrapping and opening live in the client.
//! All integers are big-endian; all structures have fixed-size fields except the recipient
//! list and the payload, whose lengths are bounded. Parsing is strict: wrong magic or
//! version, out-of-range values, duplicates and trailing bytes are errors, so a valid
//! encoding is unique and `encode(parse(b)) == b`.

use crate::{Reader, WireError, Writer};

/// SEC1 uncompressed P-256 public key length.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Raw ECDSA P-256 signature length (`r ‖ s`).
pub const SIGNATURE_LEN: usize = 64;
/// Device identifier length.
pub const DEVICE_ID_LEN: usize = 16;
/// Container identifier length.
pub const CONTAINER_ID_LEN: usize = 16;
/// Key commitment length.
pub const COMMITMENT_LEN: usize = 32;
/// A first encryption key (32 bytes) wrapped twice with AES-GCM (two 16-byte tags).
pub const WRAPPED_KEY_LEN: usize = 32 + 16 + 16;

/// The label prefixed to a device certificate's bytes before the user key signs them.
pub const DEVICE_CERT_LABEL: &[u8] = b"conclave-v1 device-cert";
/// The label prefixed to a prekey's fields before the app key signs them.
pub const PREKEY_LABEL: &[u8] = b"conclave-v1 prekey";
/// The label prefixed to a container's bytes before the app key signs them.
pub const CONTAINER_LABEL: &[u8] = b"conclave-v1 container";

/// Container magic, ASCII `CNCL`.
pub const CONTAINER_MAGIC: [u8; 4] = *b"CNCL";
pub const CONTAINER_VERSION: u8 = 1;
pub const DEVICE_CERT_VERSION: u8 = 1;

/// Longest time to live: the default retention period, 30 days.
pub const MAX_TTL_SECONDS: u32 = 30 * 24 * 3600;
/// Most recipient devices in one container.
pub const MAX_RECIPIENTS: usize = 1024;
/// Largest encrypted payload (1 MiB of plaintext plus the tag).
pub const MAX_PAYLOAD_LEN: usize = (1 << 20) + 16;
/// Smallest encrypted payload: the tag alone.
pub const MIN_PAYLOAD_LEN: usize = 16;

/// A device certificate: the user key certifies a device's app signing key and its static
/// ECDH device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    pub user_key: [u8; PUBLIC_KEY_LEN],
    pub device_id: [u8; DEVICE_ID_LEN],
    pub app_key: [u8; PUBLIC_KEY_LEN],
    pub device_key: [u8; PUBLIC_KEY_LEN],
    pub created_ms: u64,
    pub signature: [u8; SIGNATURE_LEN],
}

impl DeviceCertificate {
    /// Encoded length: version, three keys, device id, time, signature.
    pub const LEN: usize = 1 + 3 * PUBLIC_KEY_LEN + DEVICE_ID_LEN + 8 + SIGNATURE_LEN;

    /// The bytes the user key signs: [`DEVICE_CERT_LABEL`] ‖ the certificate without its
    /// signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(DEVICE_CERT_LABEL.len() + Self::LEN);
        w.bytes(DEVICE_CERT_LABEL);
        self.write_unsigned(&mut w);
        w.into_vec()
    }

    fn write_unsigned(&self, w: &mut Writer) {
        w.u8(DEVICE_CERT_VERSION)
            .bytes(&self.user_key)
            .bytes(&self.device_id)
            .bytes(&self.app_key)
            .bytes(&self.device_key)
            .u64(self.created_ms);
    }

    pub fn write(&self, w: &mut Writer) {
        self.write_unsigned(w);
        w.bytes(&self.signature);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        self.write(&mut w);
        w.into_vec()
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let version = r.u8("device certificate version")?;
        if version != DEVICE_CERT_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "device certificate",
                got: version,
            });
        }
        Ok(DeviceCertificate {
            user_key: r.array("certificate user key")?,
            device_id: r.array("certificate device id")?,
            app_key: r.array("certificate app key")?,
            device_key: r.array("certificate device key")?,
            created_ms: r.u64("certificate creation time")?,
            signature: r.array("certificate signature")?,
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let cert = Self::read(&mut r)?;
        r.finish()?;
        Ok(cert)
    }
}

/// The bytes an app key signs to vouch for a one-time prekey:
/// [`PREKEY_LABEL`] ‖ device id ‖ prekey id (u32) ‖ public key.
pub fn prekey_signed_bytes(
    device_id: &[u8; DEVICE_ID_LEN],
    prekey_id: u32,
    public_key: &[u8; PUBLIC_KEY_LEN],
) -> Vec<u8> {
    let mut w = Writer::with_capacity(PREKEY_LABEL.len() + DEVICE_ID_LEN + 4 + PUBLIC_KEY_LEN);
    w.bytes(PREKEY_LABEL)
        .bytes(device_id)
        .u32(prekey_id)
        .bytes(public_key);
    w.into_vec()
}

/// What a container says it is; the payload's own type must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    Invite = 1,
    Rekey = 2,
    Leave = 3,
    Reject = 4,
    Text = 5,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            1 => MessageType::Invite,
            2 => MessageType::Rekey,
            3 => MessageType::Leave,
            4 => MessageType::Reject,
            5 => MessageType::Text,
            other => {
                return Err(WireError::UnknownValue {
                    what: "message type",
                    got: u64::from(other),
                });
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Invite => "invite",
            MessageType::Rekey => "rekey",
            MessageType::Leave => "leave",
            MessageType::Reject => "reject",
            MessageType::Text => "text",
        }
    }
}

/// One destination entry: the first encryption key wrapped for one recipient device,
/// first under its one-time prekey, then under its device key (both HPKE base mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientEntry {
    pub device_id: [u8; DEVICE_ID_LEN],
    pub prekey_id: u32,
    /// HPKE `enc` of the prekey layer: the sender's ephemeral public key.
    pub prekey_enc: [u8; PUBLIC_KEY_LEN],
    /// HPKE `enc` of the device-key layer.
    pub device_enc: [u8; PUBLIC_KEY_LEN],
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl RecipientEntry {
    pub const LEN: usize = DEVICE_ID_LEN + 4 + 2 * PUBLIC_KEY_LEN + WRAPPED_KEY_LEN;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.device_id)
            .u32(self.prekey_id)
            .bytes(&self.prekey_enc)
            .bytes(&self.device_enc)
            .bytes(&self.wrapped_key);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RecipientEntry {
            device_id: r.array("recipient device id")?,
            prekey_id: r.u32("recipient prekey id")?,
            prekey_enc: r.array("recipient prekey enc")?,
            device_enc: r.array("recipient device enc")?,
            wrapped_key: r.array("recipient wrapped key")?,
        })
    }
}

/// A secure communication container (see `docs/PROTOCOL.md` §Container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub message_type: MessageType,
    pub container_id: [u8; CONTAINER_ID_LEN],
    /// Creation time on the master clock, milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub ttl_seconds: u32,
    pub sender: DeviceCertificate,
    pub commitment: [u8; COMMITMENT_LEN],
    pub recipients: Vec<RecipientEntry>,
    /// AES-256-GCM ciphertext of the payload, tag appended.
    pub payload: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
}

impl Container {
    /// Bytes from the magic to the end of the commitment.
    pub const HEADER_LEN: usize =
        4 + 1 + 1 + CONTAINER_ID_LEN + 8 + 4 + DeviceCertificate::LEN + COMMITMENT_LEN;

    /// The fixed header (magic through commitment). It is the AAD of both HPKE layers'
    /// wrapping, binding every wrapped key to this container.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::HEADER_LEN);
        self.write_header(&mut w);
        w.into_vec()
    }

    fn write_header(&self, w: &mut Writer) {
        w.bytes(&CONTAINER_MAGIC)
            .u8(CONTAINER_VERSION)
            .u8(self.message_type as u8)
            .bytes(&self.container_id)
            .u64(self.created_ms)
            .u32(self.ttl_seconds);
        self.sender.write(w);
        w.bytes(&self.commitment);
    }

    /// Header ‖ recipient count ‖ recipients: the AAD of the payload encryption.
    pub fn payload_aad(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            Self::HEADER_LEN + 2 + self.recipients.len() * RecipientEntry::LEN,
        );
        self.write_through_recipients(&mut w);
        w.into_vec()
    }

    fn write_through_recipients(&self, w: &mut Writer) {
        self.write_header(w);
        // Counts above u16::MAX are refused by `validate`; saturate rather than wrap here.
        w.u16(u16::try_from(self.recipients.len()).unwrap_or(u16::MAX));
        for e in &self.recipients {
            e.write(w);
        }
    }

    fn write_unsigned(&self, w: &mut Writer) {
        self.write_through_recipients(w);
        w.u32(u32::try_from(self.payload.len()).unwrap_or(u32::MAX));
        w.bytes(&self.payload);
    }

    /// The bytes the sender's app key signs: [`CONTAINER_LABEL`] ‖ every byte of the
    /// container before the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(CONTAINER_LABEL.len() + self.encoded_len());
        w.bytes(CONTAINER_LABEL);
        self.write_unsigned(&mut w);
        w.into_vec()
    }

    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN
            + 2
            + self.recipients.len() * RecipientEntry::LEN
            + 4
            + self.payload.len()
            + SIGNATURE_LEN
    }

    /// Checks the limits that [`Container::parse`] enforces, for containers built in memory.
    pub fn validate(&self) -> Result<(), WireError> {
        check_ttl(self.ttl_seconds)?;
        check_recipients(&self.recipients)?;
        check_payload_len(self.payload.len())
    }

    /// Encodes after checking the limits.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
        self.validate()?;
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write_unsigned(&mut w);
        w.bytes(&self.signature);
        Ok(w.into_vec())
    }

    /// Parses a container strictly. Checks structure and limits only: signatures and
    /// wrapped keys are the client's business.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let max = Self::HEADER_LEN
            + 2
            + MAX_RECIPIENTS * RecipientEntry::LEN
            + 4
            + MAX_PAYLOAD_LEN
            + SIGNATURE_LEN;
        if bytes.len() > max {
            return Err(WireError::TooLarge {
                what: "container",
                got: bytes.len(),
                limit: max,
            });
        }
        let mut r = Reader::new(bytes);
        if r.array::<4>("container magic")? != CONTAINER_MAGIC {
            return Err(WireError::BadMagic("container"));
        }
        let version = r.u8("container version")?;
        if version != CONTAINER_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "container",
                got: version,
            });
        }
        let message_type = MessageType::from_u8(r.u8("message type")?)?;
        let container_id = r.array("container id")?;
        let created_ms = r.u64("creation time")?;
        let ttl_seconds = r.u32("ttl")?;
        check_ttl(ttl_seconds)?;
        let sender = DeviceCertificate::read(&mut r)?;
        let commitment = r.array("key commitment")?;
        let count = usize::from(r.u16("recipient count")?);
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(WireError::OutOfRange {
                what: "recipient count",
                got: count as u64,
            });
        }
        // The count is bounded, and each entry is checked against the remaining input.
        let mut recipients = Vec::with_capacity(count);
        for _ in 0..count {
            recipients.push(RecipientEntry::read(&mut r)?);
        }
        check_recipients(&recipients)?;
        let payload_len = r.u32("payload length")? as usize;
        check_payload_len(payload_len)?;
        let payload = r.bytes(payload_len, "payload")?.to_vec();
        let signature = r.array("container signature")?;
        r.finish()?;
        Ok(Container {
            message_type,
            container_id,
            created_ms,
            ttl_seconds,
            sender,
            commitment,
            recipients,
            payload,
            signature,
        })
    }

    /// The entry addressed to `device_id`, if any.
    pub fn recipient(&self, device_id: &[u8; DEVICE_ID_LEN]) -> Option<&RecipientEntry> {
        self.recipients.iter().find(|e| &e.device_id == device_id)
    }
}

fn check_ttl(ttl: u32) -> Result<(), WireError> {
    if ttl == 0 || ttl > MAX_TTL_SECONDS {
        return Err(WireError::OutOfRange {
            what: "ttl",
            got: u64::from(ttl),
        });
    }
    Ok(())
}

fn check_recipients(recipients: &[RecipientEntry]) -> Result<(), WireError> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(WireError::OutOfRange {
            what: "recipient count",
            got: recipients.len() as u64,
        });
    }
    let mut ids: Vec<&[u8; DEVICE_ID_LEN]> = recipients.iter().map(|e| &e.device_id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(WireError::Duplicate("recipient device id"));
    }
    Ok(())
}

fn check_payload_len(len: usize) -> Result<(), WireError> {
    if len < MIN_PAYLOAD_LEN {
        return Err(WireError::OutOfRange {
            what: "payload length",
            got: len as u64,
        });
    }
    if len > MAX_PAYLOAD_LEN {
        return Err(WireError::TooLarge {
            what: "payload",
            got: len,
            limit: MAX_PAYLOAD_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(recipients: usize) -> Container {
        Container {
            message_type: MessageType::Invite,
            container_id: [7; 16],
            created_ms: 1_700_000_000_000,
            ttl_seconds: 3600,
            sender: DeviceCertificate {
                user_key: [4; 65],
                device_id: [1; 16],
                app_key: [4; 65],
                device_key: [4; 65],
                created_ms: 5,
                signature: [9; 64],
            },
            commitment: [3; 32],
            recipients: (0..recipients)
                .map(|i| RecipientEntry {
                    device_id: [i as u8; 16],
                    prekey_id: i as u32,
                    prekey_enc: [4; 65],
                    device_enc: [4; 65],
                    wrapped_key: [i as u8; 64],
                })
                .collect(),
            payload: vec![0xaa; 40],
            signature: [2; 64],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let c = sample(3);
        let bytes = c.to_bytes().unwrap();
        assert_eq!(bytes.len(), c.encoded_len());
        assert_eq!(&bytes[..4], b"CNCL");
        assert_eq!(Container::HEADER_LEN, 350);
        assert_eq!(RecipientEntry::LEN, 214);
        assert_eq!(DeviceCertificate::LEN, 284);
        assert_eq!(Container::parse(&bytes).unwrap(), c);
        assert_eq!(
            &c.payload_aad()[..],
            &bytes[..Container::HEADER_LEN + 2 + 3 * 214]
        );
        assert_eq!(
            &c.signed_bytes()[CONTAINER_LABEL.len()..],
            &bytes[..bytes.len() - 64]
        );
    }

    #[test]
    fn rejects_bad_input() {
        let bytes = sample(2).to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                Container::parse(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Container::parse(&extra), Err(WireError::TrailingBytes(1)));
        let mut v = bytes.clone();
        v[4] = 2;
        assert!(matches!(
            Container::parse(&v),
            Err(WireError::UnsupportedVersion { .. })
        ));
        let mut m = bytes.clone();
        m[0] = b'X';
        assert_eq!(Container::parse(&m), Err(WireError::BadMagic("container")));
        let mut dup = sample(2);
        dup.recipients[1].device_id = dup.recipients[0].device_id;
        assert_eq!(
            dup.to_bytes(),
            Err(WireError::Duplicate("recipient device id"))
        );
        let mut ttl = sample(1);
        ttl.ttl_seconds = MAX_TTL_SECONDS + 1;
        assert!(ttl.to_bytes().is_err());
        let mut empty = sample(0);
        empty.recipients.clear();
        assert!(empty.to_bytes().is_err());
    }

    proptest! {
        #[test]
        fn parse_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = Container::parse(&bytes);
            let _ = DeviceCertificate::parse(&bytes);
        }

        #[test]
        fn mutated_containers_parse_canonically(pos in 0usize..1200, val: u8) {
            let mut bytes = sample(3).to_bytes().unwrap();
            let i = pos % bytes.len();
            bytes[i] = val;
            if let Ok(c) = Container::parse(&bytes) {
                prop_assert_eq!(c.to_bytes().unwrap(), bytes);
            }
        }
    }
}
