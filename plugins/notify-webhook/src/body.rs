//! The JSON body of a webhook request.

use conclave_plugin_api::notify::Event;
use serde::Serialize;

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    kind: &'static str,
    user_hash: &'a str,
    device_id: Option<&'a str>,
    meeting_id: Option<&'a str>,
    count: u64,
    at_ms: u64,
}

/// `{"id","kind","user_hash","device_id","meeting_id","count","at_ms"}`; absent ids are
/// `null`.
pub(crate) fn render(event: &Event) -> Vec<u8> {
    let body = Body {
        id: event.id.as_str(),
        kind: event.kind.as_str(),
        user_hash: event.user_hash.as_str(),
        device_id: event.device_id.as_ref().into_option().map(|s| s.as_str()),
        meeting_id: event.meeting_id.as_ref().into_option().map(|s| s.as_str()),
        count: event.count,
        at_ms: event.at_ms,
    };
    // Serializing strings and integers into memory cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}
