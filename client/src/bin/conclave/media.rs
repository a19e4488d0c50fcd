//! Media in a meeting from the command line: `--media audio|video|file:PATH` sources, a
//! live per-participant summary once a second (and a final one), received files written
//! to `--out`, until `--duration` ends, the meeting ends, or Ctrl-C (then this device
//! leaves).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conclave_client::api::membership::Departure;
use conclave_client::api::{Account, MeetingEvent, MeetingRunner, Next, SessionEvent};
use conclave_client::identity::fingerprint;
use conclave_client::media::{
    AudioConfig, AudioSource, CodecFileSource, FileSource, MediaEvent, MediaStats, SessionEnd,
    Source, VideoConfig, VideoSource, parse_ivf, parse_ogg_opus,
};
use conclave_client::meeting::EpochKeys;
use serde_json::{Value, json};

use crate::display::{emit, received, short};

type Error = Box<dyn std::error::Error>;

/// One `--media` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// Synthetic audio: 20 ms frames.
    Audio,
    /// Synthetic audio and simulcast video (30 fps, three layers).
    Video,
    /// A file sent as a carousel on the data stream.
    File(PathBuf),
    /// Real VP8 video from an IVF file, in a loop, as codec frames browsers decode.
    Vp8(PathBuf),
    /// Real Opus audio from an Ogg file, in a loop, as codec frames browsers decode.
    Opus(PathBuf),
}

impl FromStr for MediaKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "audio" => Ok(MediaKind::Audio),
            "video" => Ok(MediaKind::Video),
            _ => {
                let (kind, path) = s.split_once(':').unwrap_or((s, ""));
                let path = PathBuf::from(path);
                match kind {
                    "file" if !path.as_os_str().is_empty() => Ok(MediaKind::File(path)),
                    "vp8" if !path.as_os_str().is_empty() => Ok(MediaKind::Vp8(path)),
                    "opus" if !path.as_os_str().is_empty() => Ok(MediaKind::Opus(path)),
                    _ => Err(format!(
                        "{s:?} is not a media kind: use audio, video, file:PATH, vp8:FILE.ivf or opus:FILE.ogg"
                    )),
                }
            }
        }
    }
}

/// File chunks (16 KiB) sent per second by a carousel: 2 MiB/s.
const FILE_CHUNKS_PER_SEC: u32 = 128;
/// Largest file `--media file:` sends.
const MAX_SEND_FILE: u64 = 64 << 20;

/// The sources for the `--media` values (each at most once).
pub fn sources(kinds: &[MediaKind]) -> Result<Vec<Source>, Error> {
    let now = Instant::now();
    let seed = u64::from(std::process::id());
    let mut out = Vec::new();
    let audio = kinds
        .iter()
        .any(|k| matches!(k, MediaKind::Audio | MediaKind::Video));
    if audio {
        out.push(Source::Audio(AudioSource::new(
            now,
            AudioConfig {
                seed,
                ..AudioConfig::default()
            },
        )));
    }
    if kinds.contains(&MediaKind::Video) {
        out.push(Source::Video(VideoSource::new(
            now,
            VideoConfig {
                seed: seed ^ 0x5eed,
                ..VideoConfig::default()
            },
        )));
    }
    for k in kinds {
        if let MediaKind::File(path) = k {
            let len = std::fs::metadata(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            if len > MAX_SEND_FILE {
                return Err(format!(
                    "{}: {len} bytes; at most {MAX_SEND_FILE} bytes can be sent",
                    path.display()
                )
                .into());
            }
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let f = FileSource::new(now, bytes, FILE_CHUNKS_PER_SEC)
                .ok_or_else(|| format!("{}: too large", path.display()))?;
            out.push(Source::File(f));
        }
    }
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut vp8 = None;
    let mut opus = None;
    for k in kinds {
        match k {
            MediaKind::Vp8(path) => {
                vp8 =
                    Some(parse_ivf(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?);
            }
            MediaKind::Opus(path) => {
                opus = Some(
                    parse_ogg_opus(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?,
                );
            }
            _ => {}
        }
    }
    if vp8.is_some() || opus.is_some() {
        out.push(Source::Codec(CodecFileSource::new(now, vp8, opus)));
    }
    Ok(out)
}

/// How the meeting is run and shown.
pub struct Show<'a> {
    pub json: bool,
    pub duration: Option<Duration>,
    pub out: Option<&'a Path>,
    /// Names of the participants, by device id (username or short fingerprint).
    pub names: BTreeMap<String, String>,
    /// The account directory: messages that arrive meanwhile are remembered there.
    pub dir: &'a Path,
}

/// Names for the roster's devices: this account's username for its own device, a
/// contact's name by the user key's fingerprint, else the short fingerprint.
pub fn names(
    account: &Account,
    keys: &EpochKeys,
    p: &dyn conclave_crypto::CryptoProvider,
) -> BTreeMap<String, String> {
    keys.roster()
        .entries()
        .iter()
        .map(|e| {
            let device = hex::encode(e.device_id);
            let name = if device == account.device_id {
                account.username.clone()
            } else {
                let fp = fingerprint(p, &e.user_key);
                account
                    .contact_by_fingerprint(&fp)
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_else(|| format!("user {}", short(&fp)))
            };
            (device, name)
        })
        .collect()
}

fn ms(us: Option<u64>) -> Value {
    us.map_or(Value::Null, |u| json!(u as f64 / 1000.0))
}

fn human_ms(us: Option<u64>) -> String {
    us.map_or("-".into(), |u| format!("{:.1} ms", u as f64 / 1000.0))
}

/// The summary of one snapshot: JSON and text.
fn summary(
    runner: &MeetingRunner,
    show: &Show,
    stats: &MediaStats,
    elapsed: Duration,
    last: bool,
) -> (Value, String) {
    let own = stats.participants.get(&stats.own_index);
    let sent = own.map_or(0, |p| p.frames_sent);
    let mut parts = Vec::new();
    let mut lines = vec![format!(
        "[media{}] {:.0}s  epoch {}{}  sent {sent} frames",
        if last { " final" } else { "" },
        elapsed.as_secs_f64(),
        stats.sending_epoch,
        stats
            .pending_epoch
            .map(|e| format!(" (→ {e})"))
            .unwrap_or_default()
    )];
    for (index, p) in &stats.participants {
        if *index == stats.own_index {
            continue;
        }
        let device = runner.device_of_index(*index).unwrap_or_default();
        let name = show.names.get(&device).cloned().unwrap_or_default();
        parts.push(json!({
            "index": index, "device_id": device, "name": name,
            "received": p.frames_received, "decrypted": p.frames_decrypted,
            "failures": p.failures, "failures_by_reason": p.failures_by_reason,
            "files": p.files_received, "bytes": p.bytes_delivered,
            "latency_p50_ms": ms(p.latency_p50_us), "latency_p99_ms": ms(p.latency_p99_us),
            "epoch": p.last_epoch,
        }));
        lines.push(format!(
            "  {name} (#{index} {}): received {}  decrypted {}  failures {}  latency p50 {}  p99 {}",
            short(&device),
            p.frames_received,
            p.frames_decrypted,
            p.failures,
            human_ms(p.latency_p50_us),
            human_ms(p.latency_p99_us)
        ));
    }
    let v = json!({
        "event": if last { "media_final" } else { "media" },
        "meeting_id": runner.meeting_id(),
        "elapsed_ms": elapsed.as_millis() as u64,
        "epoch": stats.sending_epoch,
        "pending_epoch": stats.pending_epoch,
        "sent": sent,
        "participants": parts,
        "dropped": stats.frames_dropped,
    });
    (v, lines.join("\n"))
}

fn end_reason(e: &SessionEnd) -> String {
    match e {
        SessionEnd::Rejected(r) => format!("refused by the relay ({r:?})"),
        SessionEnd::Closed(r) => format!("closed by the relay ({r:?})"),
        SessionEnd::JoinTimedOut => "no answer from the relay's media address".into(),
        SessionEnd::RelayTimedOut => "the relay stopped answering".into(),
        SessionEnd::LeftUnconfirmed => "left (unconfirmed)".into(),
    }
}

fn write_file(dir: &Path, from: &str, sha256: &[u8; 32], bytes: &[u8]) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let clean: String = from
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{clean}-{}.bin", &hex::encode(sha256)[..16]));
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs the meeting until the duration ends, the media session ends, or Ctrl-C; then
/// leaves (if still in) and prints the final summary.
pub async fn run(mut runner: MeetingRunner, show: Show<'_>) -> Result<(), Error> {
    let start = Instant::now();
    let deadline = show.duration.map(|d| tokio::time::Instant::now() + d);
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let mut next_tick = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut left = false;
    let mut outcome: Result<(), Error> = Ok(());
    // The latest statistics: read every second and just before leaving (the media task's
    // counters are gone once it has ended).
    let mut last: Option<MediaStats> = None;
    loop {
        let wake = match deadline {
            Some(d) if !left => d.min(next_tick),
            _ => next_tick,
        };
        match runner.next_event_until(Some(wake)).await {
            Next::Done => break,
            Next::Timeout => {}
            Next::Event(ev) => {
                if matches!(ev, MeetingEvent::Media(MediaEvent::Ended(_))) {
                    left = true;
                }
                if let Some((v, h)) = describe(&runner, &show, ev, &mut outcome) {
                    emit(show.json, &v, &h);
                }
            }
        }
        let now = tokio::time::Instant::now();
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            if let Some(stats) = runner.stats().await {
                let (v, h) = summary(&runner, &show, &stats, start.elapsed(), false);
                emit(show.json, &v, &h);
                last = Some(stats);
            }
        }
        let due = deadline.is_some_and(|d| now >= d);
        if !left && (due || interrupted.load(Ordering::SeqCst)) {
            left = true;
            last = runner.stats().await.or(last);
            if let Err(e) = runner.leave().await {
                outcome = Err(format!("leaving: {e}").into());
            }
        }
        std::io::stdout().flush()?;
    }
    ctrl_c.abort();
    let (v, h) = match &last {
        Some(stats) => summary(&runner, &show, stats, start.elapsed(), true),
        None => (
            json!({"event": "media_final", "meeting_id": runner.meeting_id(),
                   "elapsed_ms": start.elapsed().as_millis() as u64, "participants": []}),
            "[media final] no statistics".to_string(),
        ),
    };
    emit(show.json, &v, &h);
    std::io::stdout().flush()?;
    runner.finish().await;
    outcome
}

/// One meeting event as output (`None`: not shown). A fatal end sets `outcome`.
fn describe(
    runner: &MeetingRunner,
    show: &Show,
    ev: MeetingEvent,
    outcome: &mut Result<(), Error>,
) -> Option<(Value, String)> {
    let name_of_index = |i: u16| {
        let d = runner.device_of_index(i).unwrap_or_default();
        let n = show
            .names
            .get(&d)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"));
        (d, n)
    };
    Some(match ev {
        MeetingEvent::Media(MediaEvent::Joined { source_id }) => (
            json!({"event": "media_joined", "source_id": source_id}),
            format!("[media] joined the media plane as source {source_id}"),
        ),
        MeetingEvent::Media(MediaEvent::FileReceived {
            sender_index, file, ..
        }) => {
            let (device, name) = name_of_index(sender_index);
            let sha = hex::encode(file.sha256);
            let path = match show.out {
                Some(dir) => match write_file(dir, &name, &file.sha256, &file.bytes) {
                    Ok(p) => Some(p.display().to_string()),
                    Err(e) => {
                        *outcome = Err(e);
                        None
                    }
                },
                None => None,
            };
            (
                json!({"event": "file_received", "from": device, "name": name,
                       "size": file.bytes.len(), "sha256": sha, "path": path}),
                format!(
                    "[file] {} bytes from {name} (sha256 {}){}",
                    file.bytes.len(),
                    short(&sha),
                    path.map(|p| format!(" saved to {p}")).unwrap_or_default()
                ),
            )
        }
        MeetingEvent::Media(MediaEvent::EpochSwitched { epoch }) => (
            json!({"event": "epoch_switched", "epoch": epoch}),
            format!("[epoch] now sending in epoch {epoch}"),
        ),
        MeetingEvent::Media(MediaEvent::Ended(e)) => {
            if matches!(e, SessionEnd::Rejected(_) | SessionEnd::JoinTimedOut) && outcome.is_ok() {
                *outcome = Err(format!("media: {}", end_reason(&e)).into());
            }
            (
                json!({"event": "media_ended", "reason": format!("{e:?}")}),
                format!("[media] ended: {}", end_reason(&e)),
            )
        }
        MeetingEvent::Media(_) => return None,
        MeetingEvent::Rekeyed { epoch, sent_to } => (
            json!({"event": "rekeyed", "epoch": epoch, "sent_to": sent_to}),
            if sent_to > 0 {
                format!("[rekey] epoch {epoch} installed and sent to {sent_to} device(s)")
            } else {
                format!("[rekey] epoch {epoch} installed")
            },
        ),
        MeetingEvent::Departed { device_id, why } => {
            let name = show.names.get(&device_id).cloned().unwrap_or_default();
            let word = match why {
                Departure::Left => "left",
                Departure::Rejected => "declined",
                Departure::Removed => "was removed",
            };
            (
                json!({"event": "departed", "device_id": device_id, "name": name,
                       "why": why.as_str()}),
                format!("[member] {name} ({}) {word}", short(&device_id)),
            )
        }
        MeetingEvent::Excluded => (
            json!({"event": "excluded"}),
            "[member] this device is no longer in the meeting".into(),
        ),
        MeetingEvent::Ended => (
            json!({"event": "meeting_ended", "meeting_id": runner.meeting_id()}),
            "[ended] the initiator ended the meeting".into(),
        ),
        MeetingEvent::Other(SessionEvent::Message(r)) => {
            // Something else arrived (a text, an invitation to another meeting): shown and
            // remembered as `listen` would.
            match Account::load(show.dir) {
                Ok(mut account) => {
                    crate::online::remember(&mut account, &r, runner.session().now_ms());
                    if let Err(e) = account.save(show.dir) {
                        *outcome = Err(e.into());
                    }
                    received(&account, &r, &show.dir.display().to_string())
                }
                Err(e) => {
                    *outcome = Err(e.into());
                    return None;
                }
            }
        }
        MeetingEvent::Other(_) => return None,
        MeetingEvent::Warning(w) => {
            let w = w.replace('\n', " ");
            (
                json!({"event": "warning", "message": w}),
                format!("[warning] {w}"),
            )
        }
    })
}
