//! Rendering an event as one JSON line.

use std::time::{SystemTime, UNIX_EPOCH};

use conclave_plugin_api::notify::Event;
use serde::Serialize;

#[derive(Serialize)]
struct Line<'a> {
    ts_ms: u64,
    level: &'static str,
    msg: &'static str,
    id: &'a str,
    kind: &'static str,
    user_hash: &'a str,
    device_id: Option<&'a str>,
    meeting_id: Option<&'a str>,
    count: u64,
    at_ms: u64,
}

/// The wall clock in ms since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `event` as a JSON object followed by a newline.
pub(crate) fn render(event: &Event, ts_ms: u64) -> Vec<u8> {
    let line = Line {
        ts_ms,
        level: "info",
        msg: "conclave event",
        id: event.id.as_str(),
        kind: event.kind.as_str(),
        user_hash: event.user_hash.as_str(),
        device_id: event.device_id.as_ref().into_option().map(|s| s.as_str()),
        meeting_id: event.meeting_id.as_ref().into_option().map(|s| s.as_str()),
        count: event.count,
        at_ms: event.at_ms,
    };
    // Serializing strings and integers into memory cannot fail.
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use conclave_plugin_api::notify::EventKind;

    use super::*;

    #[test]
    fn one_line_whatever_the_fields() {
        let event = Event {
            id: "e\n1".into(),
            kind: EventKind::MeetingInvite,
            user_hash: "\r\n{\"x\":1}\n".into(),
            device_id: abi_stable::std_types::ROption::RNone,
            meeting_id: abi_stable::std_types::ROption::RSome("m\u{0}".into()),
            count: u64::MAX,
            at_ms: 5,
        };
        let bytes = render(&event, 7);
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["kind"], "meeting_invite");
        assert_eq!(v["user_hash"], "\r\n{\"x\":1}\n");
        assert_eq!(v["device_id"], serde_json::Value::Null);
        assert_eq!(v["count"], u64::MAX);
        assert_eq!(v["ts_ms"], 7);
    }
}
