//! The notification plugin conformance suite.
//!
//! It assumes the plugin's sink works (a receiver is listening, the log file is writable):
//! every ordinary event must be accepted. It checks that every [`EventKind`] is accepted,
//! that odd events (empty strings, huge counts and times, control characters, 64 KiB
//! fields) never produce `Internal` (a panic), that concurrent deliveries work, that the
//! counters stay consistent — `delivered`, `failed` and `dropped` never decrease, their sum
//! with `queued` never decreases nor exceeds the number of events handed over, and after a
//! successful flush nothing is queued and every event is accounted for — and that `flush`
//! returns within its timeout. Plugins without counters (all zero) pass the counter checks.

use std::time::{Duration, Instant};

use abi_stable::std_types::{ROption, RString};

use crate::ErrorKind;
use crate::host::NotifierHandle;
use crate::notify::{Event, EventKind, NotifierStats};

use super::{Failure, Report};

/// Every event kind.
pub const ALL_KINDS: [EventKind; 6] = [
    EventKind::MessageWaiting,
    EventKind::MeetingInvite,
    EventKind::MeetingEnded,
    EventKind::PrekeyPoolLow,
    EventKind::DeviceRegistered,
    EventKind::DeviceRevoked,
];

/// The timeout the suite passes to `flush`.
const FLUSH_TIMEOUT_MS: u64 = 3_000;
/// How much longer than its timeout `flush` may take.
const FLUSH_SLACK: Duration = Duration::from_millis(1_000);
/// How long one `deliver` call may take (it must not wait for the sink's retries).
const SLOW_DELIVER: Duration = Duration::from_secs(5);
const THREADS: usize = 4;
const PER_THREAD: usize = 10;

/// Runs the suite against `notifier`.
pub fn run(notifier: &NotifierHandle) -> Result<Report, Failure> {
    let mut suite = Suite {
        notifier,
        baseline: notifier.stats(),
        last: notifier.stats(),
        handed_over: 0,
        serial: 0,
    };
    let mut report = Report { passed: Vec::new() };
    suite.check_stats("counters are consistent")?;
    report.passed.push("counters are consistent");
    suite.every_kind()?;
    report.passed.push("every event kind is accepted");
    suite.odd_events()?;
    report.passed.push("odd events never break the plugin");
    suite.concurrent()?;
    report.passed.push("concurrent deliveries are accepted");
    suite.flush()?;
    report
        .passed
        .push("flush returns within its timeout and drains the queue");
    suite.flush_zero()?;
    report.passed.push("flush(0) returns at once");
    Ok(report)
}

fn fail(check: &'static str, problem: impl Into<String>) -> Failure {
    Failure {
        check,
        problem: problem.into(),
    }
}

fn total(s: &NotifierStats) -> u64 {
    s.delivered
        .saturating_add(s.failed)
        .saturating_add(s.dropped)
        .saturating_add(s.queued)
}

/// Checks `now` against the previous reading and the number of events handed over.
fn consistent(
    before: &NotifierStats,
    now: &NotifierStats,
    baseline: &NotifierStats,
    handed_over: u64,
) -> Result<(), String> {
    for (name, a, b) in [
        ("delivered", before.delivered, now.delivered),
        ("failed", before.failed, now.failed),
        ("dropped", before.dropped, now.dropped),
    ] {
        if b < a {
            return Err(format!("`{name}` went down from {a} to {b}"));
        }
    }
    if total(now) < total(before) {
        return Err(format!(
            "delivered + failed + dropped + queued went down: {before:?} then {now:?}"
        ));
    }
    let counted = total(now).saturating_sub(total(baseline));
    if counted > handed_over {
        return Err(format!(
            "{counted} events counted but only {handed_over} handed over ({now:?})"
        ));
    }
    Ok(())
}

struct Suite<'a> {
    notifier: &'a NotifierHandle,
    baseline: NotifierStats,
    last: NotifierStats,
    /// `deliver` calls made so far.
    handed_over: u64,
    serial: u64,
}

impl Suite<'_> {
    fn check_stats(&mut self, check: &'static str) -> Result<NotifierStats, Failure> {
        let now = self.notifier.stats();
        consistent(&self.last, &now, &self.baseline, self.handed_over)
            .map_err(|p| fail(check, p))?;
        self.last = now;
        Ok(now)
    }

    fn event(&mut self, kind: EventKind) -> Event {
        self.serial += 1;
        let has_device = !matches!(kind, EventKind::MeetingEnded);
        let has_meeting = matches!(kind, EventKind::MeetingInvite | EventKind::MeetingEnded);
        Event {
            id: format!("conformance-{}-{}", std::process::id(), self.serial).into(),
            kind,
            user_hash: "5f1c0a7e9b3d2c4e6f8a0b1c2d3e4f5a".into(),
            device_id: if has_device {
                ROption::RSome("device-1".into())
            } else {
                ROption::RNone
            },
            meeting_id: if has_meeting {
                ROption::RSome("0011223344556677".into())
            } else {
                ROption::RNone
            },
            count: match kind {
                EventKind::MessageWaiting => 3,
                EventKind::PrekeyPoolLow => 5,
                _ => 0,
            },
            at_ms: 1_700_000_000_000 + self.serial,
        }
    }

    /// Delivers `event`; `odd` events may also be refused as invalid or unavailable.
    fn deliver(&mut self, check: &'static str, event: &Event, odd: bool) -> Result<(), Failure> {
        self.handed_over += 1;
        let start = Instant::now();
        let result = self.notifier.deliver(event);
        if start.elapsed() > SLOW_DELIVER {
            return Err(fail(
                check,
                format!("deliver took {:?}: it must not block", start.elapsed()),
            ));
        }
        match result {
            Ok(()) => {}
            Err(e) if odd && matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::Unavailable) => {
            }
            Err(e) => {
                return Err(fail(
                    check,
                    format!("deliver of a {} event failed: {e}", event.kind.as_str()),
                ));
            }
        }
        self.check_stats(check).map(|_| ())
    }

    fn every_kind(&mut self) -> Result<(), Failure> {
        const CHECK: &str = "every event kind is accepted";
        for kind in ALL_KINDS {
            let event = self.event(kind);
            self.deliver(CHECK, &event, false)?;
        }
        Ok(())
    }

    fn odd_events(&mut self) -> Result<(), Failure> {
        const CHECK: &str = "odd events never break the plugin";
        let long = RString::from("x".repeat(64 * 1024));
        let mut odd = Vec::new();
        for kind in ALL_KINDS {
            let mut e = self.event(kind);
            e.id = "".into();
            e.user_hash = "".into();
            e.device_id = ROption::RSome("".into());
            e.meeting_id = ROption::RSome("".into());
            e.count = u64::MAX;
            e.at_ms = 0;
            odd.push(e);
        }
        let mut e = self.event(EventKind::MessageWaiting);
        e.at_ms = u64::MAX;
        e.user_hash = "\0\r\n\"\\\u{7f}\u{202E}\u{FFFD}🔔".into();
        e.device_id = ROption::RSome("\n{\"injected\":true}\n".into());
        odd.push(e);
        let mut e = self.event(EventKind::PrekeyPoolLow);
        e.id = long.clone();
        e.user_hash = long.clone();
        e.meeting_id = ROption::RSome(long);
        odd.push(e);
        for e in &odd {
            self.deliver(CHECK, e, true)?;
        }
        Ok(())
    }

    fn concurrent(&mut self) -> Result<(), Failure> {
        const CHECK: &str = "concurrent deliveries are accepted";
        let batches: Vec<Vec<Event>> = (0..THREADS)
            .map(|t| {
                (0..PER_THREAD)
                    .map(|i| self.event(ALL_KINDS[(t + i) % ALL_KINDS.len()]))
                    .collect()
            })
            .collect();
        self.handed_over += (THREADS * PER_THREAD) as u64;
        let notifier = self.notifier;
        let problem = std::thread::scope(|scope| {
            let workers: Vec<_> = batches
                .iter()
                .map(|batch| {
                    scope.spawn(move || {
                        for e in batch {
                            if let Err(err) = notifier.deliver(e) {
                                return Some(format!(
                                    "a concurrent deliver of a {} event failed: {err}",
                                    e.kind.as_str()
                                ));
                            }
                        }
                        None
                    })
                })
                .collect();
            // Read the counters while the workers run: they must stay consistent.
            let mut last = notifier.stats();
            let mut problem = None;
            while !workers.iter().all(|w| w.is_finished()) {
                let now = notifier.stats();
                if let Err(p) = consistent(&last, &now, &self.baseline, self.handed_over) {
                    problem.get_or_insert(p);
                }
                last = now;
                std::thread::yield_now();
            }
            let worker_problem = workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Some("a delivering thread panicked".into()))
                })
                .find_map(|p| p);
            problem.or(worker_problem)
        });
        if let Some(p) = problem {
            return Err(fail(CHECK, p));
        }
        self.check_stats(CHECK).map(|_| ())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        const CHECK: &str = "flush returns within its timeout and drains the queue";
        let start = Instant::now();
        let result = self.notifier.flush(FLUSH_TIMEOUT_MS);
        let took = start.elapsed();
        if took > Duration::from_millis(FLUSH_TIMEOUT_MS) + FLUSH_SLACK {
            return Err(fail(
                CHECK,
                format!("flush({FLUSH_TIMEOUT_MS}) took {took:?}"),
            ));
        }
        let stats = self.check_stats(CHECK)?;
        match result {
            Ok(()) => {
                if stats.queued != 0 {
                    return Err(fail(
                        CHECK,
                        format!(
                            "flush succeeded but {} events are still queued",
                            stats.queued
                        ),
                    ));
                }
                let counted = total(&stats).saturating_sub(total(&self.baseline));
                if counted != 0 && counted != self.handed_over {
                    return Err(fail(
                        CHECK,
                        format!(
                            "after a successful flush {counted} of {} events are accounted for ({stats:?})",
                            self.handed_over
                        ),
                    ));
                }
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::Unavailable => Err(fail(
                CHECK,
                format!(
                    "flush did not drain the queue in {FLUSH_TIMEOUT_MS} ms: {e} (is the sink up?)"
                ),
            )),
            Err(e) => Err(fail(CHECK, format!("flush failed: {e}"))),
        }
    }

    fn flush_zero(&mut self) -> Result<(), Failure> {
        const CHECK: &str = "flush(0) returns at once";
        let start = Instant::now();
        let result = self.notifier.flush(0);
        if start.elapsed() > FLUSH_SLACK {
            return Err(fail(CHECK, format!("flush(0) took {:?}", start.elapsed())));
        }
        match result {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::Unavailable => {}
            Err(e) => return Err(fail(CHECK, format!("flush(0) failed: {e}"))),
        }
        self.check_stats(CHECK).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::host::LoadedPlugin;
    use crate::notify::Notifier;
    use crate::{HostContext, PluginError, PluginMod};

    /// A synchronous in-memory notifier, with switches to break it.
    struct Memory {
        delivered: AtomicU64,
        flaws: Flaws,
    }

    #[derive(Default, Clone, Copy)]
    struct Flaws {
        panic_on_empty: bool,
        counters_go_down: bool,
        slow_flush: bool,
        refuse_kind: Option<EventKind>,
        overcount: bool,
    }

    static FLAWS: Mutex<Flaws> = Mutex::new(Flaws {
        panic_on_empty: false,
        counters_go_down: false,
        slow_flush: false,
        refuse_kind: None,
        overcount: false,
    });
    static SERIAL: Mutex<()> = Mutex::new(());

    impl Notifier for Memory {
        const NAME: &'static str = "memory";
        const VERSION: &'static str = "0.0.0";

        fn from_config(_config: &str, _host: &HostContext) -> Result<Self, PluginError> {
            let flaws = *FLAWS.lock().unwrap_or_else(|e| e.into_inner());
            Ok(Memory {
                delivered: AtomicU64::new(0),
                flaws,
            })
        }

        fn deliver(&self, event: &Event) -> Result<(), PluginError> {
            if self.flaws.panic_on_empty && event.user_hash.is_empty() {
                panic!("empty user hash");
            }
            if self.flaws.refuse_kind == Some(event.kind) {
                return Err(PluginError::unavailable("not today"));
            }
            let n = if self.flaws.overcount { 2 } else { 1 };
            self.delivered.fetch_add(n, Ordering::SeqCst);
            Ok(())
        }

        fn stats(&self) -> NotifierStats {
            let delivered = self.delivered.load(Ordering::SeqCst);
            NotifierStats {
                delivered: if self.flaws.counters_go_down && delivered > 8 {
                    delivered - 5
                } else {
                    delivered
                },
                ..NotifierStats::default()
            }
        }

        fn flush(&self, timeout_ms: u64) -> Result<(), PluginError> {
            if self.flaws.slow_flush {
                std::thread::sleep(Duration::from_millis(timeout_ms) + 2 * FLUSH_SLACK);
            }
            Ok(())
        }
    }

    fn run_with(flaws: Flaws) -> Result<Report, Failure> {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        *FLAWS.lock().unwrap_or_else(|e| e.into_inner()) = flaws;
        let host = HostContext {
            loopback_only: true,
            host_version: "test".into(),
        };
        let notifier = LoadedPlugin::builtin("memory", PluginMod::notifier::<Memory>())
            .new_notifier("{}", &host)
            .unwrap();
        run(&notifier)
    }

    #[test]
    fn a_correct_plugin_passes() {
        let report = run_with(Flaws::default()).unwrap();
        assert_eq!(report.passed.len(), 6, "{report:?}");
    }

    #[test]
    fn broken_plugins_fail() {
        let cases = [
            (
                Flaws {
                    panic_on_empty: true,
                    ..Flaws::default()
                },
                "odd events never break the plugin",
            ),
            (
                Flaws {
                    counters_go_down: true,
                    ..Flaws::default()
                },
                "odd events never break the plugin",
            ),
            (
                Flaws {
                    refuse_kind: Some(EventKind::PrekeyPoolLow),
                    ..Flaws::default()
                },
                "every event kind is accepted",
            ),
            (
                Flaws {
                    overcount: true,
                    ..Flaws::default()
                },
                "every event kind is accepted",
            ),
            (
                Flaws {
                    slow_flush: true,
                    ..Flaws::default()
                },
                "flush returns within its timeout and drains the queue",
            ),
        ];
        for (flaws, check) in cases {
            let failure = run_with(flaws).unwrap_err();
            assert_eq!(failure.check, check, "{failure}");
        }
    }

    #[test]
    fn panics_are_reported_as_internal() {
        let failure = run_with(Flaws {
            panic_on_empty: true,
            ..Flaws::default()
        })
        .unwrap_err();
        assert!(failure.problem.contains("internal"), "{failure}");
    }
}
