//! Datagram types, the prefix, and the parser and encoders of PROTOCOL §11.2.

use super::{
    DatagramError, Layer, MAX_DATAGRAM, MAX_EPOCH, MEDIA_HEADER_LEN, MediaHeader, NO_VIDEO,
    PREFIX_LEN, ReceiverReport, SESSION_KEY_LABEL, Stream, TAG_LEN,
};

/// Who receives a datagram: a receiver accepts only the types meant for its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → relay (the relay parses with this).
    ToRelay,
    /// Relay → client (the client parses with this).
    ToClient,
}

/// The type byte of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatagramType {
    Join = 0x01,
    JoinAck = 0x02,
    JoinReject = 0x03,
    Media = 0x10,
    MediaFwd = 0x11,
    ReceiverReport = 0x20,
    KeyframeRequest = 0x21,
    LayerPreference = 0x22,
    ActiveSpeaker = 0x23,
    SourceGone = 0x24,
    EpochBehind = 0x25,
    Ping = 0x30,
    Pong = 0x31,
    Closed = 0x3e,
    Leave = 0x3f,
}

/// Body length rule of a type.
enum BodyLen {
    Exact(usize),
    AtLeast(usize),
}

impl DatagramType {
    pub fn from_byte(b: u8) -> Result<DatagramType, DatagramError> {
        Ok(match b {
            0x01 => DatagramType::Join,
            0x02 => DatagramType::JoinAck,
            0x03 => DatagramType::JoinReject,
            0x10 => DatagramType::Media,
            0x11 => DatagramType::MediaFwd,
            0x20 => DatagramType::ReceiverReport,
            0x21 => DatagramType::KeyframeRequest,
            0x22 => DatagramType::LayerPreference,
            0x23 => DatagramType::ActiveSpeaker,
            0x24 => DatagramType::SourceGone,
            0x25 => DatagramType::EpochBehind,
            0x30 => DatagramType::Ping,
            0x31 => DatagramType::Pong,
            0x3e => DatagramType::Closed,
            0x3f => DatagramType::Leave,
            _ => return Err(DatagramError::UnknownType(b)),
        })
    }

    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// Whether the datagram ends with an ingress tag (all but `MEDIA_FWD`).
    pub fn is_tagged(self) -> bool {
        self != DatagramType::MediaFwd
    }

    /// Whether a receiver in `dir` accepts this type.
    pub fn allowed(self, dir: Direction) -> bool {
        use DatagramType as T;
        match self {
            T::KeyframeRequest => true,
            T::Join | T::Media | T::ReceiverReport | T::LayerPreference | T::Ping | T::Leave => {
                dir == Direction::ToRelay
            }
            T::JoinAck
            | T::JoinReject
            | T::MediaFwd
            | T::ActiveSpeaker
            | T::SourceGone
            | T::EpochBehind
            | T::Pong
            | T::Closed => dir == Direction::ToClient,
        }
    }

    fn body_len(self) -> BodyLen {
        use DatagramType as T;
        match self {
            T::Join => BodyLen::Exact(JOIN_BODY_LEN),
            T::JoinAck => BodyLen::Exact(12),
            T::JoinReject | T::LayerPreference | T::Closed => BodyLen::Exact(1),
            T::Media | T::MediaFwd => BodyLen::AtLeast(MEDIA_HEADER_LEN + 1),
            T::ReceiverReport => BodyLen::AtLeast(5),
            T::KeyframeRequest => BodyLen::Exact(5),
            T::ActiveSpeaker | T::SourceGone => BodyLen::Exact(4),
            T::EpochBehind | T::Ping | T::Pong => BodyLen::Exact(8),
            T::Leave => BodyLen::Exact(0),
        }
    }

    /// The shortest valid datagram of this type (prefix, minimal body, tag).
    pub fn min_len(self) -> usize {
        let body = match self.body_len() {
            BodyLen::Exact(n) | BodyLen::AtLeast(n) => n,
        };
        PREFIX_LEN + body + self.tag_len()
    }

    fn tag_len(self) -> usize {
        if self.is_tagged() { TAG_LEN } else { 0 }
    }
}

/// `type ‖ conn_id ‖ pn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub ty: DatagramType,
    /// The relay-assigned connection id (0 in `JOIN`); in `MEDIA_FWD`, the publisher's
    /// source id.
    pub conn_id: u32,
    /// The sending side's packet number.
    pub pn: u64,
}

impl Prefix {
    /// Reads the prefix only (a receiver's session lookup before the full parse). Checks
    /// the length bounds and the type byte, nothing else.
    pub fn parse(datagram: &[u8]) -> Result<Prefix, DatagramError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(DatagramError::TooLong {
                len: datagram.len(),
            });
        }
        let Some((p, _)) = datagram.split_first_chunk::<PREFIX_LEN>() else {
            return Err(match datagram.first() {
                Some(&b) => match DatagramType::from_byte(b) {
                    Ok(_) => DatagramError::Truncated {
                        len: datagram.len(),
                    },
                    Err(e) => e,
                },
                None => DatagramError::Truncated { len: 0 },
            });
        };
        let [t, c0, c1, c2, c3, n0, n1, n2, n3, n4, n5, n6, n7] = *p;
        Ok(Prefix {
            ty: DatagramType::from_byte(t)?,
            conn_id: u32::from_be_bytes([c0, c1, c2, c3]),
            pn: u64::from_be_bytes([n0, n1, n2, n3, n4, n5, n6, n7]),
        })
    }

    fn to_bytes(self) -> [u8; PREFIX_LEN] {
        let mut out = [0u8; PREFIX_LEN];
        out[0] = self.ty.to_byte();
        out[1..5].copy_from_slice(&self.conn_id.to_be_bytes());
        out[5..13].copy_from_slice(&self.pn.to_be_bytes());
        out
    }
}

const JOIN_BODY_LEN: usize = 32 + 16 + 16 + 8 + 1;

/// `JOIN`: the ticket's fields, from which the relay recomputes the session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Join {
    pub meeting_id: [u8; 32],
    pub device_id: [u8; 16],
    pub session_id: [u8; 16],
    pub expires_ms: u64,
    pub worker: u8,
}

impl Join {
    /// Length of [`Self::session_key_input`].
    pub const SESSION_KEY_INPUT_LEN: usize = SESSION_KEY_LABEL.len() + JOIN_BODY_LEN;

    /// The HMAC message of §11.1: `session_key = HMAC-SHA256(ticket_secret, this)`.
    pub fn session_key_input(&self) -> [u8; Self::SESSION_KEY_INPUT_LEN] {
        let mut out = [0u8; Self::SESSION_KEY_INPUT_LEN];
        let (label, body) = out.split_at_mut(SESSION_KEY_LABEL.len());
        label.copy_from_slice(SESSION_KEY_LABEL);
        self.write(body);
        out
    }

    fn write(&self, out: &mut [u8]) {
        let mut w = Put::new(out);
        w.put(&self.meeting_id);
        w.put(&self.device_id);
        w.put(&self.session_id);
        w.put(&self.expires_ms.to_be_bytes());
        w.put(&[self.worker]);
    }
}

/// `JOIN_ACK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JoinAck {
    /// The participant's source id (non-zero): `conn_id` of the `MEDIA_FWD` it publishes.
    pub source_id: u32,
    pub keepalive_ms: u32,
    pub timeout_ms: u32,
}

/// `JOIN_REJECT` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    TicketExpired = 1,
    WrongWorker = 2,
    Removed = 3,
    RelayFull = 4,
    SessionClosed = 5,
}

impl RejectReason {
    pub fn from_byte(b: u8) -> Result<Self, DatagramError> {
        Ok(match b {
            1 => RejectReason::TicketExpired,
            2 => RejectReason::WrongWorker,
            3 => RejectReason::Removed,
            4 => RejectReason::RelayFull,
            5 => RejectReason::SessionClosed,
            _ => return Err(DatagramError::InvalidReason(b)),
        })
    }
}

/// `CLOSED` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    Left = 1,
    Removed = 2,
    MeetingEnded = 3,
    TimedOut = 4,
    ShuttingDown = 5,
}

impl CloseReason {
    pub fn from_byte(b: u8) -> Result<Self, DatagramError> {
        Ok(match b {
            1 => CloseReason::Left,
            2 => CloseReason::Removed,
            3 => CloseReason::MeetingEnded,
            4 => CloseReason::TimedOut,
            5 => CloseReason::ShuttingDown,
            _ => return Err(DatagramError::InvalidReason(b)),
        })
    }
}

/// The body of a datagram, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    Join(Join),
    JoinAck(JoinAck),
    JoinReject(RejectReason),
    Media {
        header: MediaHeader,
        fragment: &'a [u8],
    },
    MediaFwd {
        header: MediaHeader,
        fragment: &'a [u8],
    },
    ReceiverReport(ReceiverReport),
    /// Client → relay: "send me a keyframe of `source_id`'s `stream`"; relay → client:
    /// "send a keyframe of your `stream`" (`source_id` is the recipient's own).
    KeyframeRequest {
        source_id: u32,
        stream: Stream,
    },
    /// The highest video layer the client wants; `None` = no video.
    LayerPreference {
        max_layer: Option<Layer>,
    },
    ActiveSpeaker {
        source_id: u32,
    },
    SourceGone {
        source_id: u32,
    },
    EpochBehind {
        meeting_epoch: u64,
    },
    Ping {
        timestamp_us: u64,
    },
    Pong {
        timestamp_us: u64,
    },
    Closed(CloseReason),
    Leave,
}

impl Body<'_> {
    pub fn ty(&self) -> DatagramType {
        use DatagramType as T;
        match self {
            Body::Join(_) => T::Join,
            Body::JoinAck(_) => T::JoinAck,
            Body::JoinReject(_) => T::JoinReject,
            Body::Media { .. } => T::Media,
            Body::MediaFwd { .. } => T::MediaFwd,
            Body::ReceiverReport(_) => T::ReceiverReport,
            Body::KeyframeRequest { .. } => T::KeyframeRequest,
            Body::LayerPreference { .. } => T::LayerPreference,
            Body::ActiveSpeaker { .. } => T::ActiveSpeaker,
            Body::SourceGone { .. } => T::SourceGone,
            Body::EpochBehind { .. } => T::EpochBehind,
            Body::Ping { .. } => T::Ping,
            Body::Pong { .. } => T::Pong,
            Body::Closed(_) => T::Closed,
            Body::Leave => T::Leave,
        }
    }

    /// Length of the encoded body.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Media { fragment, .. } | Body::MediaFwd { fragment, .. } => {
                MEDIA_HEADER_LEN + fragment.len()
            }
            Body::ReceiverReport(r) => r.encoded_len(),
            other => match other.ty().body_len() {
                BodyLen::Exact(n) | BodyLen::AtLeast(n) => n,
            },
        }
    }

    /// Every value rule of §11.2/§11.3 that the body alone can break.
    fn validate(&self) -> Result<(), DatagramError> {
        let nonzero = |id: u32| {
            if id == 0 {
                Err(DatagramError::ZeroSourceId)
            } else {
                Ok(())
            }
        };
        match self {
            Body::Media { header, fragment } | Body::MediaFwd { header, fragment } => {
                header.validate()?;
                header.validate_fragment(fragment.len())
            }
            Body::ReceiverReport(r) => r.validate(),
            Body::JoinAck(a) => nonzero(a.source_id),
            Body::KeyframeRequest { source_id, .. }
            | Body::ActiveSpeaker { source_id }
            | Body::SourceGone { source_id } => nonzero(*source_id),
            Body::EpochBehind { meeting_epoch } if *meeting_epoch > MAX_EPOCH => {
                Err(DatagramError::EpochOutOfRange(*meeting_epoch))
            }
            _ => Ok(()),
        }
    }

    fn write(&self, out: &mut [u8]) {
        let mut w = Put::new(out);
        match self {
            Body::Join(j) => j.write(out),
            Body::JoinAck(a) => {
                w.put(&a.source_id.to_be_bytes());
                w.put(&a.keepalive_ms.to_be_bytes());
                w.put(&a.timeout_ms.to_be_bytes());
            }
            Body::JoinReject(r) => w.put(&[*r as u8]),
            Body::Closed(r) => w.put(&[*r as u8]),
            Body::Media { header, fragment } | Body::MediaFwd { header, fragment } => {
                w.put(&header.to_bytes());
                w.put(fragment);
            }
            Body::ReceiverReport(r) => r.write(out),
            Body::KeyframeRequest { source_id, stream } => {
                w.put(&source_id.to_be_bytes());
                w.put(&[stream.to_byte()]);
            }
            Body::LayerPreference { max_layer } => {
                w.put(&[max_layer.map_or(NO_VIDEO, Layer::index)]);
            }
            Body::ActiveSpeaker { source_id } | Body::SourceGone { source_id } => {
                w.put(&source_id.to_be_bytes());
            }
            Body::EpochBehind { meeting_epoch: v }
            | Body::Ping { timestamp_us: v }
            | Body::Pong { timestamp_us: v } => w.put(&v.to_be_bytes()),
            Body::Leave => {}
        }
    }

    fn parse(ty: DatagramType, b: &[u8]) -> Result<Body<'_>, DatagramError> {
        let bad_len = DatagramError::BodyLength { ty, len: b.len() };
        match ty.body_len() {
            BodyLen::Exact(n) if b.len() != n => return Err(bad_len),
            BodyLen::AtLeast(n) if b.len() < n => return Err(bad_len),
            _ => {}
        }
        let u32_at = |i: usize| -> Result<u32, DatagramError> {
            b.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(bad_len)
        };
        let u64_at = |i: usize| -> Result<u64, DatagramError> {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or(bad_len)
        };
        let u8_at = |i: usize| b.get(i).copied().ok_or(bad_len);
        use DatagramType as T;
        let body = match ty {
            T::Join => {
                let take = |r: std::ops::Range<usize>| b.get(r).ok_or(bad_len);
                let mut meeting_id = [0u8; 32];
                meeting_id.copy_from_slice(take(0..32)?);
                let mut device_id = [0u8; 16];
                device_id.copy_from_slice(take(32..48)?);
                let mut session_id = [0u8; 16];
                session_id.copy_from_slice(take(48..64)?);
                Body::Join(Join {
                    meeting_id,
                    device_id,
                    session_id,
                    expires_ms: u64_at(64)?,
                    worker: u8_at(72)?,
                })
            }
            T::JoinAck => Body::JoinAck(JoinAck {
                source_id: u32_at(0)?,
                keepalive_ms: u32_at(4)?,
                timeout_ms: u32_at(8)?,
            }),
            T::JoinReject => Body::JoinReject(RejectReason::from_byte(u8_at(0)?)?),
            T::Closed => Body::Closed(CloseReason::from_byte(u8_at(0)?)?),
            T::Media | T::MediaFwd => {
                let Some((h, fragment)) = b.split_first_chunk::<MEDIA_HEADER_LEN>() else {
                    return Err(bad_len);
                };
                let header = MediaHeader::parse(h)?;
                if ty == T::Media {
                    Body::Media { header, fragment }
                } else {
                    Body::MediaFwd { header, fragment }
                }
            }
            T::ReceiverReport => Body::ReceiverReport(ReceiverReport::parse(b)?),
            T::KeyframeRequest => Body::KeyframeRequest {
                source_id: u32_at(0)?,
                stream: Stream::from_byte(u8_at(4)?)?,
            },
            T::LayerPreference => Body::LayerPreference {
                max_layer: match u8_at(0)? {
                    NO_VIDEO => None,
                    l => Some(Layer::from_index(l).ok_or(DatagramError::InvalidLayer(l))?),
                },
            },
            T::ActiveSpeaker => Body::ActiveSpeaker {
                source_id: u32_at(0)?,
            },
            T::SourceGone => Body::SourceGone {
                source_id: u32_at(0)?,
            },
            T::EpochBehind => Body::EpochBehind {
                meeting_epoch: u64_at(0)?,
            },
            T::Ping => Body::Ping {
                timestamp_us: u64_at(0)?,
            },
            T::Pong => Body::Pong {
                timestamp_us: u64_at(0)?,
            },
            T::Leave => Body::Leave,
        };
        body.validate()?;
        Ok(body)
    }
}

/// A parsed, valid datagram. Its tag is not verified: that is the caller's job, over
/// [`Datagram::authenticated`] with the session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub prefix: Prefix,
    pub body: Body<'a>,
    /// `datagram[0 .. len − 16]` for tagged types (the whole datagram for `MEDIA_FWD`).
    pub authenticated: &'a [u8],
    /// The last 16 bytes, for tagged types.
    pub tag: Option<&'a [u8; TAG_LEN]>,
}

fn check_conn_id(ty: DatagramType, conn_id: u32) -> Result<(), DatagramError> {
    // 0 in JOIN; random non-zero connection ids (and non-zero source ids) elsewhere.
    if (ty == DatagramType::Join) != (conn_id == 0) {
        return Err(DatagramError::ConnId(ty));
    }
    Ok(())
}

/// Parses a whole datagram as received in `dir`. Total: refuses anything §11.2/§11.3 call
/// invalid with a typed error and never panics.
pub fn parse(datagram: &[u8], dir: Direction) -> Result<Datagram<'_>, DatagramError> {
    let prefix = Prefix::parse(datagram)?;
    let ty = prefix.ty;
    if !ty.allowed(dir) {
        return Err(DatagramError::WrongDirection(ty));
    }
    if datagram.len() < ty.min_len() {
        return Err(DatagramError::Truncated {
            len: datagram.len(),
        });
    }
    check_conn_id(ty, prefix.conn_id)?;
    let (authenticated, tag) = if ty.is_tagged() {
        match datagram.split_last_chunk::<TAG_LEN>() {
            Some((a, t)) => (a, Some(t)),
            None => {
                return Err(DatagramError::Truncated {
                    len: datagram.len(),
                });
            }
        }
    } else {
        (datagram, None)
    };
    let body = Body::parse(ty, authenticated.get(PREFIX_LEN..).unwrap_or_default())?;
    Ok(Datagram {
        prefix,
        body,
        authenticated,
        tag,
    })
}

/// Writes `prefix ‖ body` into `buf` and returns its length `n` (the authenticated part).
/// For tagged types `buf` must also hold the tag, which the caller writes at
/// `buf[n .. n + 16]` (or use [`encode_tagged`]). Refuses bodies that the parser would
/// refuse, and datagrams longer than [`MAX_DATAGRAM`].
pub fn encode(buf: &mut [u8], conn_id: u32, pn: u64, body: &Body) -> Result<usize, DatagramError> {
    let ty = body.ty();
    check_conn_id(ty, conn_id)?;
    body.validate()?;
    let n = PREFIX_LEN + body.encoded_len();
    let total = n + ty.tag_len();
    if total > MAX_DATAGRAM {
        return Err(DatagramError::TooLong { len: total });
    }
    let Some(out) = buf.get_mut(..total) else {
        return Err(DatagramError::BufferTooSmall { need: total });
    };
    let (p, rest) = out.split_at_mut(PREFIX_LEN);
    p.copy_from_slice(&Prefix { ty, conn_id, pn }.to_bytes());
    body.write(rest.get_mut(..n - PREFIX_LEN).unwrap_or_default());
    Ok(n)
}

/// [`encode`], then the tag `tag_fn(authenticated bytes)` (HMAC-SHA256 under the session
/// key, truncated to 16 bytes) for tagged types. Returns the datagram's total length.
pub fn encode_tagged(
    buf: &mut [u8],
    conn_id: u32,
    pn: u64,
    body: &Body,
    tag_fn: impl FnOnce(&[u8]) -> [u8; TAG_LEN],
) -> Result<usize, DatagramError> {
    let n = encode(buf, conn_id, pn, body)?;
    if !body.ty().is_tagged() {
        return Ok(n);
    }
    let Some((auth, rest)) = buf.split_at_mut_checked(n) else {
        return Err(DatagramError::BufferTooSmall { need: n + TAG_LEN });
    };
    let tag = tag_fn(auth);
    match rest.get_mut(..TAG_LEN) {
        Some(t) => t.copy_from_slice(&tag),
        None => return Err(DatagramError::BufferTooSmall { need: n + TAG_LEN }),
    }
    Ok(n + TAG_LEN)
}

/// Rewrites, in place, a `MEDIA` datagram (already parsed and verified, tag included) into
/// the `MEDIA_FWD` the relay sends to every subscriber: type `0x11`, `conn_id` replaced by
/// the publisher's `source_id`, tag dropped. Returns the `MEDIA_FWD` length
/// (`datagram[..len]`).
pub fn media_to_fwd(datagram: &mut [u8], source_id: u32) -> Result<usize, DatagramError> {
    if source_id == 0 {
        return Err(DatagramError::ZeroSourceId);
    }
    let len = datagram.len();
    if len > MAX_DATAGRAM {
        return Err(DatagramError::TooLong { len });
    }
    if len < DatagramType::Media.min_len() {
        return Err(DatagramError::Truncated { len });
    }
    let Some((p, _)) = datagram.split_first_chunk_mut::<5>() else {
        return Err(DatagramError::Truncated { len });
    };
    if p[0] != DatagramType::Media.to_byte() {
        return Err(match DatagramType::from_byte(p[0]) {
            Ok(t) => DatagramError::WrongDirection(t),
            Err(e) => e,
        });
    }
    p[0] = DatagramType::MediaFwd.to_byte();
    p[1..5].copy_from_slice(&source_id.to_be_bytes());
    Ok(len - TAG_LEN)
}

/// A bounds-checked writer over a slice whose size the caller already checked.
struct Put<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Put<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        Put { out, pos: 0 }
    }

    fn put(&mut self, b: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.pos..self.pos + b.len()) {
            dst.copy_from_slice(b);
        }
        self.pos += b.len();
    }
}
