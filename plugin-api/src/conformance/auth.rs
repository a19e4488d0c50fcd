//! The auth plugin conformance suite.
//!
//! The generic part needs nothing but the plugin: garbage, empty, oversized and odd-text
//! credentials must be [`ErrorKind::Denied`] (never `Internal`, never a panic) with a one-line
//! reason that does not echo the credential, and concurrent calls must give the answers that
//! sequential ones give. With [`AuthFixtures`] — credentials the plugin's configuration
//! accepts — the suite also checks the positive path and the denials of actions, meetings,
//! expiry and tampering.
//!
//! The suite never prints or returns a credential: failures describe them by role
//! (`valid`, `expired`, ...) and length only.

use std::time::Duration;

use crate::ErrorKind;
use crate::auth::{Action, AuthRequest, Principal};
use crate::host::AuthHandle;

use super::{Failure, Report};

/// Credentials for the positive and negative paths, all for one subject and valid (unless
/// said otherwise) at `now_ms`. They must carry integrity protection: the suite expects a
/// credential with one character changed to be denied.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthFixtures {
    /// The request time for every fixture check (ms since the Unix epoch). Choose it away
    /// from the wall clock to catch plugins that read the wall clock instead.
    pub now_ms: u64,
    /// The subject every fixture credential is for.
    pub subject: String,
    /// The device `valid` is bound to, if any.
    pub device_id: Option<String>,
    /// A credential valid at `now_ms`.
    pub valid: String,
    /// The actions `valid` allows: at least one meeting-scoped action, and not all actions.
    pub actions: Vec<Action>,
    /// The meetings `valid` allows (at least one; not `*`).
    pub meetings: Vec<String>,
    /// A credential that was like `valid` but has expired at `now_ms`.
    pub expired: String,
    /// A credential allowing `join_meeting` on `other_meeting_id` only.
    pub other_meeting: String,
    /// A meeting that `valid` does not allow.
    pub other_meeting_id: String,
}

impl std::fmt::Debug for AuthFixtures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFixtures")
            .field("now_ms", &self.now_ms)
            .field("subject", &self.subject)
            .field("device_id", &self.device_id)
            .field("actions", &self.actions)
            .field("meetings", &self.meetings)
            .field("other_meeting_id", &self.other_meeting_id)
            .finish_non_exhaustive()
    }
}

/// The longest time one call may take before the suite calls the plugin stuck.
const SLOW_CALL: Duration = Duration::from_secs(5);
const THREADS: usize = 4;
const ROUNDS: usize = 25;

/// Runs the suite against `auth`. `fixtures` enables the positive-path checks.
pub fn run(auth: &AuthHandle, fixtures: Option<&AuthFixtures>) -> Result<Report, Failure> {
    let mut report = Report { passed: Vec::new() };
    let mut pass = |check| report.passed.push(check);

    garbage_is_denied(auth)?;
    pass("garbage credentials are denied");
    oversized_is_denied(auth)?;
    pass("oversized credentials are denied");
    odd_clocks_are_handled(auth)?;
    pass("odd request times are handled");
    if let Some(fx) = fixtures {
        fixtures_are_usable(fx)?;
        pass("fixtures are usable");
        valid_is_accepted(auth, fx)?;
        pass("the valid credential is accepted with the right principal");
        other_actions_are_denied(auth, fx)?;
        pass("actions outside the credential are denied");
        meetings_are_checked(auth, fx)?;
        pass("meetings outside the credential are denied");
        expired_is_denied(auth, fx)?;
        pass("expired credentials are denied");
        tampered_is_denied(auth, fx)?;
        pass("tampered credentials are denied");
    }
    concurrent_calls_agree(auth, fixtures)?;
    pass("concurrent calls agree with sequential ones");
    Ok(report)
}

fn fail(check: &'static str, problem: impl Into<String>) -> Failure {
    Failure {
        check,
        problem: problem.into(),
    }
}

fn request(credential: &str, action: Action, resource: &str, now_ms: u64) -> AuthRequest {
    AuthRequest {
        credential: credential.into(),
        action,
        resource: resource.into(),
        now_ms,
    }
}

/// Calls the plugin, timing the call.
fn call(
    auth: &AuthHandle,
    check: &'static str,
    request: &AuthRequest,
) -> Result<Result<Principal, crate::PluginError>, Failure> {
    let start = std::time::Instant::now();
    let result = auth.authenticate(request);
    if start.elapsed() > SLOW_CALL {
        return Err(fail(
            check,
            format!(
                "one authenticate call took {:?} (limit {SLOW_CALL:?})",
                start.elapsed()
            ),
        ));
    }
    Ok(result)
}

/// Expects a denial with a one-line reason that does not contain the credential.
fn expect_denied(
    auth: &AuthHandle,
    check: &'static str,
    what: &str,
    request: &AuthRequest,
) -> Result<(), Failure> {
    let action = request.action.as_str();
    match call(auth, check, request)? {
        Ok(p) => Err(fail(
            check,
            format!(
                "{what} was accepted for {action} as subject '{}'",
                p.subject
            ),
        )),
        Err(e) if e.kind != ErrorKind::Denied => Err(fail(
            check,
            format!(
                "{what} for {action}: expected a denial, got {} ({})",
                e.kind.as_str(),
                e.message
            ),
        )),
        Err(e) => {
            let credential = request.credential.as_str();
            if credential.len() >= 8 && e.message.contains(credential) {
                return Err(fail(check, format!("the denial of {what} echoes it")));
            }
            if e.message.contains('\n') {
                return Err(fail(
                    check,
                    format!("the denial of {what} spans several lines"),
                ));
            }
            Ok(())
        }
    }
}

/// Credentials no plugin may accept.
fn garbage() -> Vec<String> {
    let mut list: Vec<String> = [
        "",
        " ",
        "garbage",
        "Bearer ",
        "Bearer garbage",
        "null",
        "{}",
        "a.b.c",
        "..",
        "e30.e30.",
        // {"alg":"none"} . {} . (empty signature)
        "eyJhbGciOiJub25lIn0.e30.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.",
        "\0",
        "\0\0\0\0\0\0\0\0",
        "\u{FFFD}\u{FFFD}\u{FFFD}",
        "\u{202E}txet desrever",
        "%FF%FE%00%C0%AF",
        "\u{FF41}\u{FF42}\u{FF43}",
        "\r\n\r\nX-Injected: 1",
        "\u{7f}\u{1}\u{2}\u{3}",
        "🔑🔑🔑🔑",
        "'; DROP TABLE users; --",
        "=====",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    list.push("A".repeat(10_000));
    list.push(".".repeat(5_000));
    list.push("\u{10FFFF}".repeat(1_000));
    list
}

fn garbage_is_denied(auth: &AuthHandle) -> Result<(), Failure> {
    const CHECK: &str = "garbage credentials are denied";
    for (i, credential) in garbage().iter().enumerate() {
        for action in Action::ALL {
            for resource in ["", "00ff", "*"] {
                let what = format!("garbage credential #{i} (length {})", credential.len());
                let r = request(credential, action, resource, 1_700_000_000_000);
                expect_denied(auth, CHECK, &what, &r)?;
            }
        }
    }
    Ok(())
}

fn oversized_is_denied(auth: &AuthHandle) -> Result<(), Failure> {
    const CHECK: &str = "oversized credentials are denied";
    let big = [
        "A".repeat(64 * 1024),
        format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", "A".repeat(1024 * 1024)),
        "x.".repeat(512 * 1024),
    ];
    for (i, credential) in big.iter().enumerate() {
        let what = format!("oversized credential #{i} (length {})", credential.len());
        let r = request(credential, Action::FetchBundle, "", 1_700_000_000_000);
        expect_denied(auth, CHECK, &what, &r)?;
    }
    Ok(())
}

fn odd_clocks_are_handled(auth: &AuthHandle) -> Result<(), Failure> {
    const CHECK: &str = "odd request times are handled";
    for now_ms in [0, 1, u64::MAX - 1, u64::MAX] {
        let what = format!("garbage at now_ms {now_ms}");
        let r = request("garbage", Action::JoinMeeting, "00ff", now_ms);
        expect_denied(auth, CHECK, &what, &r)?;
    }
    Ok(())
}

fn fixtures_are_usable(fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "fixtures are usable";
    if !fx.actions.iter().any(|a| a.is_meeting_scoped()) {
        return Err(fail(CHECK, "`actions` needs a meeting-scoped action"));
    }
    if Action::ALL.iter().all(|a| fx.actions.contains(a)) {
        return Err(fail(CHECK, "`actions` must leave at least one action out"));
    }
    if fx.meetings.is_empty() || fx.meetings.iter().any(|m| m == "*") {
        return Err(fail(CHECK, "`meetings` must list meeting ids, not `*`"));
    }
    if fx.meetings.contains(&fx.other_meeting_id) {
        return Err(fail(CHECK, "`other_meeting_id` is one of `meetings`"));
    }
    if fx.subject.is_empty() {
        return Err(fail(CHECK, "`subject` is empty"));
    }
    Ok(())
}

/// The resource a request for `action` names: a meeting, the subject, or nothing.
fn resource_for(fx: &AuthFixtures, action: Action, meeting: &str) -> String {
    match action {
        a if a.is_meeting_scoped() => meeting.to_string(),
        Action::RegisterUser | Action::RegisterDevice => fx.subject.clone(),
        _ => String::new(),
    }
}

fn first_meeting(fx: &AuthFixtures) -> &str {
    fx.meetings.first().map(String::as_str).unwrap_or_default()
}

fn expect_principal(
    auth: &AuthHandle,
    check: &'static str,
    what: &str,
    fx: &AuthFixtures,
    request: &AuthRequest,
) -> Result<Principal, Failure> {
    let action = request.action.as_str();
    let p = match call(auth, check, request)? {
        Ok(p) => p,
        Err(e) => {
            return Err(fail(
                check,
                format!(
                    "{what} was refused for {action} on '{}': {e}",
                    request.resource
                ),
            ));
        }
    };
    if p.subject.as_str() != fx.subject {
        return Err(fail(
            check,
            format!(
                "{what} authenticated as '{}', expected '{}'",
                p.subject, fx.subject
            ),
        ));
    }
    if !p.allows(request.action, &request.resource) {
        return Err(fail(
            check,
            format!("{what}: the principal returned for {action} does not allow it"),
        ));
    }
    if p.expires_ms <= request.now_ms {
        return Err(fail(
            check,
            format!(
                "{what}: the principal expires at {} ms, not after the request time {} ms",
                p.expires_ms, request.now_ms
            ),
        ));
    }
    Ok(p)
}

fn valid_is_accepted(auth: &AuthHandle, fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "the valid credential is accepted with the right principal";
    for &action in &fx.actions {
        let resource = resource_for(fx, action, first_meeting(fx));
        let r = request(&fx.valid, action, &resource, fx.now_ms);
        let p = expect_principal(auth, CHECK, "the valid credential", fx, &r)?;
        let got = p.device_id.as_ref().into_option().map(|d| d.as_str());
        if let Some(device) = &fx.device_id
            && got != Some(device.as_str())
        {
            return Err(fail(
                CHECK,
                format!(
                    "the principal's device is {:?}, expected '{device}'",
                    p.device_id
                ),
            ));
        }
        // Far past the reported expiry (beyond any sane leeway) the credential is refused.
        let later = p.expires_ms.saturating_add(2 * 86_400_000);
        if later > p.expires_ms {
            let r = request(&fx.valid, action, &resource, later);
            expect_denied(
                auth,
                CHECK,
                "the valid credential two days after its reported expiry",
                &r,
            )?;
        }
    }
    Ok(())
}

fn other_actions_are_denied(auth: &AuthHandle, fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "actions outside the credential are denied";
    for action in Action::ALL.into_iter().filter(|a| !fx.actions.contains(a)) {
        let resource = resource_for(fx, action, first_meeting(fx));
        let r = request(&fx.valid, action, &resource, fx.now_ms);
        expect_denied(auth, CHECK, "the valid credential", &r)?;
    }
    Ok(())
}

fn meetings_are_checked(auth: &AuthHandle, fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "meetings outside the credential are denied";
    for &action in fx.actions.iter().filter(|a| a.is_meeting_scoped()) {
        for meeting in &fx.meetings {
            let r = request(&fx.valid, action, meeting, fx.now_ms);
            expect_principal(auth, CHECK, "the valid credential", fx, &r)?;
        }
        let r = request(&fx.valid, action, &fx.other_meeting_id, fx.now_ms);
        expect_denied(auth, CHECK, "the valid credential on another meeting", &r)?;
    }
    let r = request(
        &fx.other_meeting,
        Action::JoinMeeting,
        &fx.other_meeting_id,
        fx.now_ms,
    );
    expect_principal(auth, CHECK, "the other-meeting credential", fx, &r)?;
    let r = request(
        &fx.other_meeting,
        Action::JoinMeeting,
        first_meeting(fx),
        fx.now_ms,
    );
    expect_denied(
        auth,
        CHECK,
        "the other-meeting credential on a meeting it does not name",
        &r,
    )
}

fn expired_is_denied(auth: &AuthHandle, fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "expired credentials are denied";
    for &action in &fx.actions {
        let resource = resource_for(fx, action, first_meeting(fx));
        let r = request(&fx.expired, action, &resource, fx.now_ms);
        expect_denied(auth, CHECK, "the expired credential", &r)?;
    }
    Ok(())
}

/// `credential` with the character at `at` replaced by a different one of the same class.
fn tamper(credential: &str, at: usize) -> Option<String> {
    let mut chars: Vec<char> = credential.chars().collect();
    let c = *chars.get(at)?;
    chars[at] = match c {
        'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
        'z' => 'a',
        'Z' => 'A',
        '9' => '0',
        _ => return None,
    };
    Some(chars.into_iter().collect())
}

fn tampered_is_denied(auth: &AuthHandle, fx: &AuthFixtures) -> Result<(), Failure> {
    const CHECK: &str = "tampered credentials are denied";
    let len = fx.valid.chars().count();
    let action = fx.actions.first().copied().unwrap_or(Action::FetchBundle);
    let resource = resource_for(fx, action, first_meeting(fx));
    let mut tried = 0;
    for at in [len / 2, len.saturating_sub(10), len.saturating_sub(2), 0] {
        let Some(tampered) = tamper(&fx.valid, at) else {
            continue;
        };
        tried += 1;
        let what = format!("the valid credential with character {at} changed");
        let r = request(&tampered, action, &resource, fx.now_ms);
        expect_denied(auth, CHECK, &what, &r)?;
    }
    if tried == 0 {
        return Err(fail(
            CHECK,
            "the valid credential has no alphanumeric character to change",
        ));
    }
    Ok(())
}

/// The answer to compare between calls: the principal, or the error kind.
type Answer = Result<Principal, ErrorKind>;

fn concurrent_calls_agree(
    auth: &AuthHandle,
    fixtures: Option<&AuthFixtures>,
) -> Result<(), Failure> {
    const CHECK: &str = "concurrent calls agree with sequential ones";
    let mut requests = vec![
        request("garbage", Action::FetchBundle, "", 1_700_000_000_000),
        request("", Action::JoinMeeting, "00ff", 1_700_000_000_000),
        request("a.b.c", Action::Admin, "", 1_700_000_000_000),
    ];
    if let Some(fx) = fixtures {
        for &action in &fx.actions {
            let resource = resource_for(fx, action, first_meeting(fx));
            requests.push(request(&fx.valid, action, &resource, fx.now_ms));
            requests.push(request(&fx.expired, action, &resource, fx.now_ms));
        }
        requests.push(request(
            &fx.other_meeting,
            Action::JoinMeeting,
            &fx.other_meeting_id,
            fx.now_ms,
        ));
    }
    let answer = |r: &AuthRequest| -> Answer { auth.authenticate(r).map_err(|e| e.kind) };
    let expected: Vec<Answer> = requests.iter().map(answer).collect();
    let mismatch = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (requests, expected) = (&requests, &expected);
                scope.spawn(move || {
                    for round in 0..ROUNDS {
                        // Each thread walks the requests from a different starting point.
                        for k in 0..requests.len() {
                            let i = (k + t + round) % requests.len();
                            if answer(&requests[i]) != expected[i] {
                                return Some(i);
                            }
                        }
                    }
                    None
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Some(usize::MAX)))
            .find_map(|m| m)
    });
    match mismatch {
        None => Ok(()),
        Some(usize::MAX) => Err(fail(CHECK, "a calling thread panicked")),
        Some(i) => Err(fail(
            CHECK,
            format!(
                "request #{i} ({}) got a different answer under concurrency",
                requests[i].action.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::auth::Auth;
    use crate::host::LoadedPlugin;
    use crate::{HostContext, PluginError, PluginMod};

    const NOW: u64 = 1_000_000_000_000;
    const VALID: &str = "valid-credential-0123456789abcdef";
    const EXPIRED: &str = "expired-credential-0123456789abcdef";
    const OTHER: &str = "other-meeting-credential-0123456789abcdef";

    fn principal(actions: &[Action], meetings: &[&str], expires_ms: u64) -> Principal {
        Principal {
            subject: "alice".into(),
            device_id: abi_stable::std_types::ROption::RNone,
            meetings: meetings.iter().map(|m| (*m).into()).collect(),
            actions: actions.to_vec().into(),
            expires_ms,
        }
    }

    /// A lookup-table plugin that does everything right, and switches to break it.
    struct Table {
        known: HashMap<&'static str, Principal>,
        flaws: Flaws,
    }

    #[derive(Default, Clone, Copy)]
    struct Flaws {
        accept_all: bool,
        ignore_expiry: bool,
        ignore_meetings: bool,
        internal_on_empty: bool,
        echo: bool,
        flip_flop: bool,
    }

    static FLAWS: std::sync::Mutex<Flaws> = std::sync::Mutex::new(Flaws {
        accept_all: false,
        ignore_expiry: false,
        ignore_meetings: false,
        internal_on_empty: false,
        echo: false,
        flip_flop: false,
    });
    static CALLS: AtomicU64 = AtomicU64::new(0);

    impl Auth for Table {
        const NAME: &'static str = "table";
        const VERSION: &'static str = "0.0.0";

        fn from_config(_config: &str, _host: &HostContext) -> Result<Self, PluginError> {
            let both = [Action::FetchBundle, Action::JoinMeeting];
            let mut known = HashMap::new();
            known.insert(VALID, principal(&both, &["m1", "m2"], NOW + 3_600_000));
            known.insert(EXPIRED, principal(&both, &["m1", "m2"], NOW - 1));
            known.insert(
                OTHER,
                principal(&[Action::JoinMeeting], &["m9"], NOW + 3_600_000),
            );
            let flaws = *FLAWS.lock().unwrap_or_else(|e| e.into_inner());
            Ok(Table { known, flaws })
        }

        fn authenticate(&self, r: &AuthRequest) -> Result<Principal, PluginError> {
            let f = self.flaws;
            if f.flip_flop && CALLS.fetch_add(1, Ordering::Relaxed) % 7 == 3 {
                return Err(PluginError::unavailable("sometimes"));
            }
            if f.internal_on_empty && r.credential.is_empty() {
                return Err(PluginError::internal("empty"));
            }
            if f.accept_all {
                return Ok(principal(&Action::ALL, &["*"], u64::MAX));
            }
            let Some(p) = self.known.get(r.credential.as_str()) else {
                if f.echo {
                    return Err(PluginError::denied(format!("unknown {}", r.credential)));
                }
                return Err(PluginError::denied("unknown credential"));
            };
            if !f.ignore_expiry && r.now_ms >= p.expires_ms {
                return Err(PluginError::denied("expired"));
            }
            if !p.actions.contains(&r.action) {
                return Err(PluginError::denied("action"));
            }
            if !f.ignore_meetings && !p.allows(r.action, &r.resource) {
                return Err(PluginError::denied("meeting"));
            }
            Ok(p.clone())
        }
    }

    fn fixtures() -> AuthFixtures {
        AuthFixtures {
            now_ms: NOW,
            subject: "alice".into(),
            device_id: None,
            valid: VALID.into(),
            actions: vec![Action::FetchBundle, Action::JoinMeeting],
            meetings: vec!["m1".into(), "m2".into()],
            expired: EXPIRED.into(),
            other_meeting: OTHER.into(),
            other_meeting_id: "m9".into(),
        }
    }

    /// Serializes the tests: the flaws are process-wide.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn run_with(flaws: Flaws) -> Result<Report, Failure> {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        *FLAWS.lock().unwrap_or_else(|e| e.into_inner()) = flaws;
        let host = HostContext {
            loopback_only: true,
            host_version: "test".into(),
        };
        let auth = LoadedPlugin::builtin("table", PluginMod::auth::<Table>())
            .new_auth("{}", &host)
            .unwrap();
        run(&auth, Some(&fixtures()))
    }

    #[test]
    fn a_correct_plugin_passes() {
        let report = run_with(Flaws::default()).unwrap();
        assert_eq!(report.passed.len(), 10, "{report:?}");
    }

    #[test]
    fn broken_plugins_fail() {
        let cases = [
            (
                Flaws {
                    accept_all: true,
                    ..Flaws::default()
                },
                "garbage credentials are denied",
            ),
            (
                Flaws {
                    ignore_expiry: true,
                    ..Flaws::default()
                },
                "the valid credential is accepted with the right principal",
            ),
            (
                Flaws {
                    ignore_meetings: true,
                    ..Flaws::default()
                },
                "meetings outside the credential are denied",
            ),
            (
                Flaws {
                    internal_on_empty: true,
                    ..Flaws::default()
                },
                "garbage credentials are denied",
            ),
            (
                Flaws {
                    echo: true,
                    ..Flaws::default()
                },
                "garbage credentials are denied",
            ),
        ];
        for (flaws, check) in cases {
            let failure = run_with(flaws).unwrap_err();
            assert_eq!(failure.check, check, "{failure}");
        }
    }

    #[test]
    fn inconsistent_answers_fail() {
        // Only the concurrency check sees the flip-flop: the others stop at the first
        // surprise too, so accept any check as long as the suite fails.
        let failure = run_with(Flaws {
            flip_flop: true,
            ..Flaws::default()
        })
        .unwrap_err();
        assert!(!failure.problem.is_empty());
    }

    #[test]
    fn failures_never_show_credentials() {
        for flaws in [
            Flaws {
                accept_all: true,
                ..Flaws::default()
            },
            Flaws {
                ignore_expiry: true,
                ..Flaws::default()
            },
        ] {
            let failure = run_with(flaws).unwrap_err().to_string();
            for secret in [VALID, EXPIRED, OTHER] {
                assert!(!failure.contains(secret), "{failure}");
            }
        }
    }

    #[test]
    fn tamper_changes_one_alphanumeric_character() {
        assert_eq!(tamper("abc", 1).as_deref(), Some("acc"));
        assert_eq!(tamper("azZ9", 1).as_deref(), Some("aaZ9"));
        assert_eq!(tamper("azZ9", 3).as_deref(), Some("azZ0"));
        assert_eq!(tamper("a.b", 1), None);
        assert_eq!(tamper("a", 5), None);
    }
}
