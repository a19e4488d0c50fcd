//! How the online commands show what happened: one human-readable line (or a few) per
//! event by default, one JSON object per line with `--json`.

use conclave_client::api::{Account, Delivered, Received, Refused};
use conclave_client::container::{CallType, Payload};
use serde_json::{Value, json};

/// Prints a JSON value on one line, or the human text.
pub fn emit(json_mode: bool, value: &Value, human: &str) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

/// A short form of a long hex id for human output.
pub fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

fn call_type(c: CallType) -> &'static str {
    match c {
        CallType::Audio => "audio",
        CallType::Video => "video",
    }
}

/// Who sent it: the contact's username when the fingerprint is known, else the
/// fingerprint.
fn sender(account: &Account, d: &Delivered) -> (Option<String>, String) {
    let name = account
        .contact_by_fingerprint(&d.sender_fingerprint)
        .map(|(n, _)| n.to_string());
    let human = match &name {
        Some(n) => format!("{n} (user {})", short(&d.sender_fingerprint)),
        None => format!("unknown user {}", short(&d.sender_fingerprint)),
    };
    (name, human)
}

/// One received message, as JSON and as text. `dir` is used in the hints.
pub fn received(account: &Account, r: &Received, dir: &str) -> (Value, String) {
    match r {
        Received::Refused(Refused {
            container_id,
            sender_device,
            error,
        }) => (
            json!({"event": "refused", "container_id": container_id,
                   "sender_device": sender_device, "error": error.to_string()}),
            format!(
                "[refused] container {} from device {}: {error}",
                short(container_id),
                short(sender_device)
            ),
        ),
        Received::Opened(d) => {
            let (name, who) = sender(account, d);
            let mut v = json!({
                "event": "message",
                "type": d.opened.message_type.as_str(),
                "container_id": d.container_id,
                "created_ms": d.opened.created_ms,
                "sender": {"username": name, "user_fingerprint": d.sender_fingerprint,
                           "device_id": d.sender_device},
            });
            let human = match &d.opened.payload {
                Payload::Invite(k) => {
                    v["meeting_id"] = json!(k.meeting_id);
                    v["call_type"] = json!(call_type(k.call_type));
                    v["epoch"] = json!(k.epoch);
                    v["participants"] = json!(k.roster.len());
                    let reject_hint = if name.is_some() {
                        String::new()
                    } else {
                        " --initiator USERNAME".to_string()
                    };
                    format!(
                        "[invite] from {who}: {} call, {} participants\n  meeting {}\n  accept: conclave accept --dir {dir} {}\n  reject: conclave reject --dir {dir} {}{reject_hint}",
                        call_type(k.call_type),
                        k.roster.len(),
                        k.meeting_id,
                        k.meeting_id,
                        k.meeting_id
                    )
                }
                Payload::Rekey(k) => {
                    v["meeting_id"] = json!(k.meeting_id);
                    v["epoch"] = json!(k.epoch);
                    format!(
                        "[rekey] from {who}: meeting {} is now at epoch {}",
                        short(&k.meeting_id),
                        k.epoch
                    )
                }
                Payload::Leave { meeting_id, epoch } => {
                    v["meeting_id"] = json!(meeting_id);
                    v["epoch"] = json!(epoch);
                    format!("[leave] {who} left meeting {}", short(meeting_id))
                }
                Payload::Reject { meeting_id } => {
                    v["meeting_id"] = json!(meeting_id);
                    format!("[reject] {who} declined meeting {}", short(meeting_id))
                }
                Payload::Text { text } => {
                    v["text"] = json!(text);
                    // Control characters from a remote sender never reach the terminal.
                    let clean: String = text
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    format!("[text] from {who}: {clean}")
                }
            };
            (v, human)
        }
    }
}
