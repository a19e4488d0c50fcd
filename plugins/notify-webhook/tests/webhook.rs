//! The webhook plugin against a real local HTTP receiver: signed deliveries, retries with
//! backoff, final failures, unreachable receivers, timeouts, a full queue, flush, shutdown.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use abi_stable::std_types::ROption;
use common::*;
use conclave_plugin_api::conformance::notify::{ALL_KINDS, run};
use conclave_plugin_api::host::{LoadCause, LoadedPlugin, NotifierHandle};
use conclave_plugin_api::notify::{Event, EventKind};
use conclave_plugin_api::{ErrorKind, HostContext};
use serde_json::{Value, json};

fn load(config: &str) -> NotifierHandle {
    try_load(config).unwrap_or_else(|e| panic!("{e}"))
}

fn try_load(config: &str) -> Result<NotifierHandle, conclave_plugin_api::host::LoadError> {
    let host = HostContext {
        loopback_only: true,
        host_version: "test".into(),
    };
    LoadedPlugin::builtin("webhook", conclave_notify_webhook::plugin_module())
        .new_notifier(config, &host)
}

fn event(i: u64, kind: EventKind) -> Event {
    Event {
        id: format!("ev-{i}").into(),
        kind,
        user_hash: "5f1c0a7e".into(),
        device_id: ROption::RSome("device-1".into()),
        meeting_id: if i.is_multiple_of(2) {
            ROption::RSome("aa01".into())
        } else {
            ROption::RNone
        },
        count: i,
        at_ms: 1_700_000_000_000 + i,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

const LONG: Duration = Duration::from_secs(10);

#[test]
fn delivers_signed_json_events() {
    let receiver = Receiver::start(Script::ok());
    let hook = load(&config(&receiver.url(), json!({})));
    let before = now_ms();
    for (i, kind) in ALL_KINDS.into_iter().enumerate() {
        hook.deliver(&event(i as u64, kind)).unwrap();
    }
    hook.flush(10_000).unwrap();
    let stats = hook.stats();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dropped, stats.queued),
        (6, 0, 0, 0)
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 6);
    for (i, (hit, kind)) in hits.iter().zip(ALL_KINDS).enumerate() {
        assert!(hit.valid, "bad signature on {hit:?}");
        assert_eq!(hit.path, "/hooks/conclave");
        assert_eq!(hit.content_type, "application/json");
        let ts: u64 = hit.timestamp.parse().unwrap();
        assert!(ts >= before && ts <= now_ms(), "timestamp {ts}");
        // The receiver's check is the documented HMAC, not just any value.
        let expected = conclave_notify_webhook::sign(SECRET.as_bytes(), ts, &hit.body);
        assert_eq!(hit.signature, expected);
        assert!(!conclave_notify_webhook::verify(
            b"another-secret-entirely",
            &hit.timestamp,
            &hit.body,
            &hit.signature
        ));
        let i = i as u64;
        let meeting = if i.is_multiple_of(2) {
            json!("aa01")
        } else {
            Value::Null
        };
        assert_eq!(
            hit.json(),
            json!({
                "id": format!("ev-{i}"),
                "kind": kind.as_str(),
                "user_hash": "5f1c0a7e",
                "device_id": "device-1",
                "meeting_id": meeting,
                "count": i,
                "at_ms": 1_700_000_000_000 + i,
            })
        );
    }
}

#[test]
fn retries_server_errors_with_backoff() {
    let receiver = Receiver::start(Script::statuses(&[500, 500, 200]));
    let hook = load(&config(
        &receiver.url(),
        json!({"backoff_initial_ms": 100, "backoff_max_ms": 1000}),
    ));
    hook.deliver(&event(1, EventKind::MessageWaiting)).unwrap();
    hook.flush(10_000).unwrap();
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.valid && h.json()["id"] == "ev-1"));
    // Equal jitter: the first delay is in [50, 100] ms, the second in [100, 200] ms.
    let first = hits[1].at - hits[0].at;
    let second = hits[2].at - hits[1].at;
    assert!(first >= Duration::from_millis(50), "{first:?}");
    assert!(second >= Duration::from_millis(100), "{second:?}");
    assert!(second < Duration::from_secs(2), "{second:?}");
    let stats = hook.stats();
    assert_eq!((stats.delivered, stats.failed), (1, 0));
}

#[test]
fn client_errors_are_final_but_408_and_429_are_retried() {
    let receiver = Receiver::start(Script::statuses(&[429, 408, 200, 404, 400]));
    let hook = load(&config(&receiver.url(), json!({})));
    hook.deliver(&event(1, EventKind::MeetingInvite)).unwrap();
    hook.deliver(&event(2, EventKind::MeetingEnded)).unwrap();
    hook.deliver(&event(3, EventKind::MeetingEnded)).unwrap();
    hook.flush(10_000).unwrap();
    let ids: Vec<Value> = receiver
        .hits()
        .iter()
        .map(|h| h.json()["id"].clone())
        .collect();
    assert_eq!(ids, ["ev-1", "ev-1", "ev-1", "ev-2", "ev-3"]);
    let stats = hook.stats();
    assert_eq!((stats.delivered, stats.failed), (1, 2));
}

#[test]
fn an_unreachable_receiver_is_retried_then_counted_failed() {
    let hook = load(&config(
        &unreachable_url(),
        json!({"max_retries": 3, "backoff_initial_ms": 20, "backoff_max_ms": 1000}),
    ));
    let start = Instant::now();
    hook.deliver(&event(1, EventKind::PrekeyPoolLow)).unwrap();
    // Accepted at once; the worker retries in the background.
    assert!(start.elapsed() < Duration::from_millis(100));
    hook.flush(10_000).unwrap();
    // Three backoffs of at least 10, 20 and 40 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(70),
        "{:?}",
        start.elapsed()
    );
    let stats = hook.stats();
    assert_eq!((stats.delivered, stats.failed, stats.queued), (0, 1, 0));
}

#[test]
fn a_slow_receiver_times_out_and_is_retried() {
    let receiver = Receiver::start(Script::slow(Duration::from_millis(600)));
    let hook = load(&config(
        &receiver.url(),
        json!({"timeout_ms": 150, "max_retries": 1}),
    ));
    hook.deliver(&event(1, EventKind::DeviceRegistered))
        .unwrap();
    hook.flush(10_000).unwrap();
    assert_eq!(receiver.wait_for(2, LONG).len(), 2);
    let stats = hook.stats();
    assert_eq!((stats.delivered, stats.failed), (0, 1));
}

#[test]
fn a_full_queue_drops_and_counts() {
    let receiver = Receiver::start(Script::slow(Duration::from_millis(300)));
    let hook = load(&config(&receiver.url(), json!({"queue_capacity": 2})));
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..10 {
        match hook.deliver(&event(i, EventKind::MessageWaiting)) {
            Ok(()) => accepted += 1,
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Unavailable);
                assert_eq!(e.message.as_str(), "queue full");
                refused += 1;
            }
        }
    }
    // Two wait in the queue, at most one more is already being sent.
    assert!((2..=3).contains(&accepted), "{accepted} accepted");
    let stats = hook.stats();
    assert_eq!(stats.dropped, refused);
    assert_eq!(stats.queued, accepted);
    hook.flush(10_000).unwrap();
    let stats = hook.stats();
    assert_eq!(
        (stats.delivered, stats.dropped, stats.queued),
        (accepted, refused, 0)
    );
    assert_eq!(receiver.hits().len() as u64, accepted);
}

#[test]
fn flush_waits_at_most_its_timeout() {
    let receiver = Receiver::start(Script::slow(Duration::from_millis(400)));
    let hook = load(&config(&receiver.url(), json!({})));
    for i in 0..3 {
        hook.deliver(&event(i, EventKind::MeetingEnded)).unwrap();
    }
    let start = Instant::now();
    let e = hook.flush(100).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("pending"), "{e}");
    hook.flush(10_000).unwrap();
    assert_eq!(hook.stats().delivered, 3);
    // Nothing queued: returns at once.
    let start = Instant::now();
    hook.flush(0).unwrap();
    assert!(start.elapsed() < Duration::from_millis(50));
}

#[test]
fn dropping_the_plugin_stops_the_worker_during_backoff() {
    let hook = load(&config(
        &unreachable_url(),
        json!({"backoff_initial_ms": 60_000, "backoff_max_ms": 60_000}),
    ));
    hook.deliver(&event(1, EventKind::DeviceRevoked)).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // the worker is now in its backoff
    assert_eq!(hook.stats().queued, 1);
    let start = Instant::now();
    drop(hook);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn passes_the_conformance_suite_with_a_live_receiver() {
    let receiver = Receiver::start(Script::ok());
    let hook = load(&config(&receiver.url(), json!({})));
    let report = run(&hook).unwrap();
    assert_eq!(report.passed.len(), 6, "{report:?}");
    let stats = hook.stats();
    let hits = receiver.hits();
    assert_eq!(hits.len() as u64, stats.delivered);
    assert_eq!(stats.failed + stats.dropped, 0);
    assert!(hits.iter().all(|h| h.valid));
}

#[test]
fn bad_configurations_are_refused_without_quoting_secrets() {
    let url = "http://127.0.0.1:9/x?token=tok3n";
    let cases = [
        (
            json!({"url": "ftp://127.0.0.1/x", "secret": SECRET}),
            "url must be",
        ),
        (
            json!({"url": "127.0.0.1:9", "secret": SECRET}),
            "url must be",
        ),
        (json!({"url": url, "secret": "short"}), "at least 16 bytes"),
        (json!({"url": url}), "missing field `secret`"),
        (
            json!({"url": url, "secret": SECRET, "retries": 3}),
            "unknown field `retries`",
        ),
        (
            json!({"url": url, "secret": SECRET, "queue_capacity": 0}),
            "queue_capacity",
        ),
        (
            json!({"url": url, "secret": SECRET, "timeout_ms": SECRET}),
            "wrong type",
        ),
        (
            json!({"url": url, "secret": 12345678901234567890u64}),
            "wrong type",
        ),
    ];
    for (config, expected) in cases {
        let e = try_load(&config.to_string()).unwrap_err();
        let LoadCause::Config(pe) = &e.cause else {
            panic!("{e}")
        };
        assert_eq!(pe.kind, ErrorKind::InvalidInput);
        let text = e.to_string();
        assert!(text.contains(expected), "{config}: {text}");
        for secret in [SECRET, "short", "tok3n", "12345678901234567890"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
