//! The storage plugin conformance suite: the whole contract of
//! [`crate::storage::Storage`], through the host handle (so across the ABI for a loaded
//! plugin), independent of the backend.
//!
//! Areas: health; users and privacy; allow/deny lists; devices; revocation (which deletes
//! prekeys and deliveries); prekey pools (all-or-nothing uploads, duplicate and consumed
//! ids refused, each prekey taken exactly once, uniform random picks, unknown and revoked
//! devices); concurrent takes from several threads; containers (storing, order, limit,
//! expiry, acknowledgement, the container going with its last delivery, `expire`);
//! meetings and members; malformed identifiers and out-of-range times.
//!
//! The suite may run against a store holding other data: it creates fresh random
//! identifiers, and it dates its containers in January 1970 so that its `expire` calls can
//! only delete containers of the suite (no real container expires then; the suite's own
//! leftovers from an interrupted run are swept). It expects nobody else to store or delete
//! containers while it runs (it checks `container_count` differences). At the end, also
//! after a failure, it cleans up what the interface allows: it revokes its devices (which
//! deletes their prekeys and deliveries) and ends its meetings; users and devices cannot be
//! deleted through the interface and stay.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::host::StorageHandle;
use crate::storage::{DeviceRecord, PrivacyMode, UserRecord};
use crate::{ErrorKind, PluginError};

use super::{Failure, Report};

mod containers;
mod devices;
mod meetings;
mod prekeys;
mod users;

/// The times the suite dates its containers with lie below this (January 1970).
const SUITE_EPOCH_END_MS: u64 = 1_000_000_000;

/// Runs the suite against `storage`; returns the checks that passed or the first failure.
pub fn run(storage: &StorageHandle) -> Result<Report, Failure> {
    let ctx = Ctx::new(storage);
    let result = run_checks(&ctx);
    ctx.clean_up();
    result.map(|()| Report {
        passed: ctx.passed.into_inner(),
    })
}

fn run_checks(ctx: &Ctx<'_>) -> Step<()> {
    const HEALTH: &str = "health answers";
    ok(HEALTH, "health()", ctx.st.health())?;
    ctx.pass(HEALTH);
    users::run(ctx)?;
    devices::run(ctx)?;
    prekeys::run(ctx)?;
    containers::run(ctx)?;
    devices::revocation(ctx)?;
    meetings::run(ctx)?;
    ok(HEALTH, "health() at the end", ctx.st.health())?;
    Ok(())
}

type Step<T> = Result<T, Failure>;

/// The suite's state: the handle, the checks passed, and what to clean up.
struct Ctx<'a> {
    st: &'a StorageHandle,
    passed: RefCell<Vec<&'static str>>,
    devices: RefCell<Vec<String>>,
    meetings: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    fn new(st: &'a StorageHandle) -> Self {
        Ctx {
            st,
            passed: RefCell::new(Vec::new()),
            devices: RefCell::new(Vec::new()),
            meetings: RefCell::new(Vec::new()),
        }
    }

    fn pass(&self, check: &'static str) {
        self.passed.borrow_mut().push(check);
    }

    /// Creates a fresh user.
    fn user(&self, check: &'static str) -> Step<String> {
        let user_hash = hex_id(32);
        let user = UserRecord {
            user_hash: user_hash.as_str().into(),
            privacy: PrivacyMode::Everyone,
            created_ms: 1_700_000_000_000,
        };
        ok(check, "create_user(fresh user)", self.st.create_user(&user))?;
        Ok(user_hash)
    }

    /// Creates a fresh device of `user_hash`, revoked again when the suite ends.
    fn device(&self, check: &'static str, user_hash: &str, created_ms: u64) -> Step<String> {
        let device = device_record(user_hash, &hex_id(16), created_ms);
        ok(
            check,
            "add_device(fresh device)",
            self.st.add_device(&device),
        )?;
        let id = device.device_id.to_string();
        self.devices.borrow_mut().push(id.clone());
        Ok(id)
    }

    /// Remembers a meeting to end when the suite ends.
    fn meeting_created(&self, meeting_id: &str) {
        self.meetings.borrow_mut().push(meeting_id.to_string());
    }

    /// Best effort: revokes the suite's devices and ends its meetings.
    fn clean_up(&self) {
        for device in self.devices.borrow().iter() {
            let _ = self.st.revoke_device(device, 1_700_000_000_000);
        }
        for meeting in self.meetings.borrow().iter() {
            let _ = self.st.end_meeting(meeting, 1_700_000_000_000);
        }
        let _ = self.st.expire(SUITE_EPOCH_END_MS);
    }
}

fn device_record(user_hash: &str, device_id: &str, created_ms: u64) -> DeviceRecord {
    // Certificate bytes with zeros and high bytes, to catch text conversions.
    let mut certificate = vec![0u8, 0xff, 0x00, 0x80];
    certificate.extend(device_id.bytes());
    certificate.extend((0..200u8).map(|i| i.wrapping_mul(37)));
    DeviceRecord {
        user_hash: user_hash.into(),
        device_id: device_id.into(),
        certificate: certificate.into(),
        created_ms,
        revoked_ms: None.into(),
    }
}

/// A fresh random lowercase-hex identifier of `bytes` bytes. Unique, not secret: std's
/// randomly keyed hasher over a counter, the time and the process id.
fn hex_id(bytes: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

fn fail(check: &'static str, problem: impl Into<String>) -> Failure {
    Failure {
        check,
        problem: brief(problem.into()),
    }
}

/// Keeps failure lines short and on one line (records can hold large byte vectors).
fn brief(s: String) -> String {
    const MAX: usize = 400;
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A call that must succeed.
fn ok<T>(check: &'static str, call: &str, r: Result<T, PluginError>) -> Step<T> {
    r.map_err(|e| fail(check, format!("{call} failed: {e}")))
}

/// A call that must fail with `kind`.
fn refused<T: Debug>(
    check: &'static str,
    call: &str,
    r: Result<T, PluginError>,
    kind: ErrorKind,
) -> Step<()> {
    match r {
        Ok(v) => Err(fail(
            check,
            format!(
                "{call} succeeded with {v:?}; expected an error of kind {}",
                kind.as_str()
            ),
        )),
        Err(e) if e.kind == kind => Ok(()),
        Err(e) => Err(fail(
            check,
            format!(
                "{call} failed with {e}; expected an error of kind {}",
                kind.as_str()
            ),
        )),
    }
}

/// Two values that must be equal.
fn same<T: PartialEq + Debug>(check: &'static str, what: &str, got: T, want: T) -> Step<()> {
    if got == want {
        Ok(())
    } else {
        Err(fail(
            check,
            format!("{what}: got {got:?}, expected {want:?}"),
        ))
    }
}

/// Identifiers every method must refuse with `InvalidInput`.
fn malformed_ids() -> [String; 5] {
    [
        String::new(),
        "ABCDEF0123".into(),
        "not hex".into(),
        "0123456789abcdeg".into(),
        "a".repeat(129),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_lowercase_hex() {
        let a = hex_id(16);
        let b = hex_id(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(hex_id(3).len(), 6);
    }

    #[test]
    fn failures_are_short_single_lines() {
        let f = fail("x", format!("a\nb {}", "é".repeat(1000)));
        assert!(!f.problem.contains('\n'));
        assert!(f.problem.len() < 420);
    }
}
