//! Two plugin instances on one database file — what two relay processes sharing the file
//! do — never hand out the same prekey: in one process, and in separate processes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{open_file, prekey, user_with_device};
use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::host::StorageHandle;

const USER: &str = "0a0a";
const DEVICE: &str = "d1d1";

/// The environment variables that make [`child_process_taker`] take prekeys.
const CHILD_DB: &str = "CONCLAVE_SQLITE_TEST_CHILD_DB";
const CHILD_DEVICE: &str = "CONCLAVE_SQLITE_TEST_CHILD_DEVICE";
const CHILD_OUT: &str = "CONCLAVE_SQLITE_TEST_CHILD_OUT";
/// A child writes `<out>.ready` when its database is open, then starts taking when the
/// parent creates this file, so that every process takes at the same time.
const CHILD_GO: &str = "CONCLAVE_SQLITE_TEST_CHILD_GO";

/// Processes pause between takes, as relays serving requests do. Lock waits between
/// processes are not fair: a process taking in a tight loop can, now and then, keep the
/// lock from another for the whole run (which would end in `Unavailable` after the busy
/// timeout, never in a duplicate); the pause makes every process take its share.
const TAKER_PAUSE: Duration = Duration::from_micros(200);

fn wait_for(file: &Path) {
    let start = std::time::Instant::now();
    while !file.exists() {
        assert!(
            start.elapsed().as_secs() < 60,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn ready_file(out: &Path) -> std::path::PathBuf {
    out.with_extension("ready")
}

/// Takes until the pool is empty, pausing `pause` after each take; `Unavailable` (a busy
/// database) is retried.
fn drain(st: &StorageHandle, device: &str, pause: Duration) -> Vec<u32> {
    let mut taken = Vec::new();
    loop {
        match st.take_prekey(device) {
            Ok(Some(p)) => {
                taken.push(p.id);
                std::thread::sleep(pause);
            }
            Ok(None) => return taken,
            Err(e) if e.kind == ErrorKind::Unavailable => continue,
            Err(e) => panic!("take_prekey: {e}"),
        }
    }
}

/// Drains with `threads` threads sharing one instance.
fn drain_threads(st: &StorageHandle, device: &str, threads: usize, pause: Duration) -> Vec<u32> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| drain(st, device, pause)))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

fn assert_each_once(taken: Vec<u32>, pool: u32) {
    let mut seen = BTreeSet::new();
    for id in &taken {
        assert!(seen.insert(*id), "prekey {id} was handed out twice");
    }
    assert_eq!(seen, (0..pool).collect::<BTreeSet<_>>());
}

fn setup(path: &Path, pool: u32) -> StorageHandle {
    let st = open_file(path);
    user_with_device(&st, USER, DEVICE);
    assert_eq!(
        st.add_prekeys(DEVICE, (0..pool).map(prekey).collect())
            .unwrap(),
        u64::from(pool)
    );
    st
}

#[test]
fn two_instances_in_one_process_never_share_a_prekey() {
    const POOL: u32 = 400;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first = setup(&path, POOL);
    let second = open_file(&path);
    let taken: Vec<u32> = std::thread::scope(|scope| {
        let a = scope.spawn(|| drain_threads(&first, DEVICE, 4, Duration::ZERO));
        let b = scope.spawn(|| drain_threads(&second, DEVICE, 4, Duration::ZERO));
        let mut all = a.join().unwrap();
        all.extend(b.join().unwrap());
        all
    });
    assert_each_once(taken, POOL);
    assert_eq!(second.prekey_count(DEVICE).unwrap(), 0);
}

#[test]
fn two_processes_never_share_a_prekey() {
    const POOL: u32 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processes.db");
    let parent = setup(&path, POOL);
    let exe = std::env::current_exe().unwrap();
    let go = dir.path().join("go");
    let children: Vec<_> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("child-{i}.txt"));
            let child = Command::new(&exe)
                .args(["--exact", "child_process_taker", "--test-threads=1"])
                .env(CHILD_DB, &path)
                .env(CHILD_DEVICE, DEVICE)
                .env(CHILD_OUT, &out)
                .env(CHILD_GO, &go)
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    for (_, out) in &children {
        wait_for(&ready_file(out));
    }
    std::fs::write(&go, b"").unwrap();
    // This process takes too, while the children do.
    let mut taken = drain_threads(&parent, DEVICE, 2, TAKER_PAUSE);
    assert!(!taken.is_empty());
    for (mut child, out) in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
        let ids = std::fs::read_to_string(&out).unwrap();
        let ids = ids.strip_suffix("done\n").expect("the child finished");
        let before = taken.len();
        taken.extend(ids.lines().map(|id| id.parse::<u32>().unwrap()));
        assert!(taken.len() > before, "a child process took no prekey");
    }
    assert_each_once(taken, POOL);
}

/// Not a test of its own: the body of the child processes of
/// [`two_processes_never_share_a_prekey`], which run this test binary filtered to this
/// function with the database and an output file in the environment. Without it, there is nothing to do.
#[test]
fn child_process_taker() {
    let (Some(db), Some(device), Some(out), Some(go)) = (
        std::env::var_os(CHILD_DB),
        std::env::var(CHILD_DEVICE).ok(),
        std::env::var_os(CHILD_OUT),
        std::env::var_os(CHILD_GO),
    ) else {
        return;
    };
    let st = open_file(Path::new(&db));
    let out = Path::new(&out);
    std::fs::write(ready_file(out), b"").unwrap();
    wait_for(Path::new(&go));
    let mut report = String::new();
    for id in drain_threads(&st, &device, 3, TAKER_PAUSE) {
        report.push_str(&format!("{id}\n"));
    }
    report.push_str("done\n");
    std::fs::write(out, report).unwrap();
}

#[test]
fn a_lock_held_too_long_is_unavailable_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    drop(setup(&path, 3));
    let config = serde_json::json!({"path": path, "busy_timeout_ms": 150}).to_string();
    let st = common::open(&config);
    // Another process (here: a raw connection) holds the write lock.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let start = std::time::Instant::now();
    let e = st.take_prekey(DEVICE).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert!(e.message.contains("busy"), "{e}");
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // Readers are not blocked by a writer (WAL), and nothing was taken.
    assert_eq!(st.prekey_count(DEVICE).unwrap(), 3);
    raw.execute_batch("COMMIT").unwrap();
    assert!(st.take_prekey(DEVICE).unwrap().is_some());
    assert_eq!(st.prekey_count(DEVICE).unwrap(), 2);
}
