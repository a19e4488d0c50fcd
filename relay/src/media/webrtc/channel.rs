//! The `conclave` data channel's JSON messages (docs/PROTOCOL.md §13.4).

use serde::{Deserialize, Serialize};

/// The longest message accepted from a browser: Chromium's SCTP `max-message-size`
/// (an SDP answer grows by ~1.4 KB per other member of the meeting).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Relay → browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToBrowser {
    Welcome { source_id: u32 },
    Offer { sdp: String },
    Tracks { tracks: Vec<TrackInfo> },
    ActiveSpeaker { source_id: u32 },
    SourceGone { source_id: u32 },
    EpochBehind { meeting_epoch: u64 },
    Closed { reason: u8 },
}

/// Which received m-line carries whose media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInfo {
    pub mid: String,
    pub source_id: u32,
    pub kind: &'static str,
}

/// Browser → relay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromBrowser {
    Answer { sdp: String },
    Layer { max_layer: Option<u8> },
    Leave {},
}

/// What became of a browser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Message(FromBrowser),
    /// A JSON object with a string `type` the relay does not know: ignored.
    Unknown,
    /// Not a JSON object with a string `type`, too long, or a known type with bad members.
    Invalid,
}

/// Parses one message (total: never fails other than by returning `Invalid`).
pub fn parse(data: &[u8]) -> Parsed {
    if data.len() > MAX_MESSAGE {
        return Parsed::Invalid;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Parsed::Invalid;
    };
    let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
        return Parsed::Invalid;
    };
    if !matches!(kind, "answer" | "layer" | "leave") {
        return Parsed::Unknown;
    }
    match serde_json::from_value::<FromBrowser>(value) {
        Ok(FromBrowser::Layer { max_layer: Some(l) }) if l > 2 => Parsed::Invalid,
        Ok(m) => Parsed::Message(m),
        Err(_) => Parsed::Invalid,
    }
}

/// The JSON text of a message.
pub fn encode(m: &ToBrowser) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_round_the_wire() {
        assert_eq!(
            encode(&ToBrowser::Welcome { source_id: 7 }),
            r#"{"type":"welcome","source_id":7}"#
        );
        assert_eq!(
            encode(&ToBrowser::Tracks {
                tracks: vec![TrackInfo {
                    mid: "3".into(),
                    source_id: 2,
                    kind: "video"
                }]
            }),
            r#"{"type":"tracks","tracks":[{"mid":"3","source_id":2,"kind":"video"}]}"#
        );
        assert_eq!(
            parse(br#"{"type":"answer","sdp":"v=0"}"#),
            Parsed::Message(FromBrowser::Answer { sdp: "v=0".into() })
        );
        assert_eq!(
            parse(br#"{"type":"layer","max_layer":null}"#),
            Parsed::Message(FromBrowser::Layer { max_layer: None })
        );
        assert_eq!(
            parse(br#"{"type":"leave"}"#),
            Parsed::Message(FromBrowser::Leave {})
        );
        assert_eq!(parse(br#"{"type":"hello"}"#), Parsed::Unknown);
        for bad in [
            &b"[]"[..],
            b"{}",
            b"{\"type\":1}",
            b"{\"type\":\"answer\"}",
            b"{\"type\":\"layer\",\"max_layer\":3}",
            b"\xff",
        ] {
            assert_eq!(parse(bad), Parsed::Invalid, "{bad:?}");
        }
        assert_eq!(parse(&vec![b' '; MAX_MESSAGE + 1]), Parsed::Invalid);
    }

    proptest! {
        #[test]
        fn parsing_is_total(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&b);
        }
    }
}
