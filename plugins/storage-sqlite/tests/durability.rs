//! Data survives closing and reopening the database; the schema is migrated from an empty
//! file and a database of a newer schema is refused.

mod common;

use common::{add_device, file_config, host, open_file, plugin, prekey, user_with_device};
use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::host::LoadCause;
use conclave_plugin_api::storage::{
    ContainerRecord, ListKind, MeetingRecord, MemberRecord, MemberState, PrivacyMode,
};
use conclave_storage_sqlite::{SqliteStorage, schema};
use rusqlite::Connection;

const USER: &str = "0a0a";
const DEVICE: &str = "d1d1";
const OTHER: &str = "d2d2";
const CONTAINER: &str = "c0c0";
const MEETING: &str = "eeee";

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/conclave.db");
    let taken = {
        let st = open_file(&path);
        user_with_device(&st, USER, DEVICE);
        add_device(&st, USER, OTHER);
        st.set_privacy(USER, PrivacyMode::AllowList).unwrap();
        st.set_list(USER, ListKind::Allow, &["beef".into(), "abcd".into()])
            .unwrap();
        st.add_prekeys(DEVICE, (1..=5).map(prekey).collect())
            .unwrap();
        let taken = st.take_prekey(DEVICE).unwrap().unwrap();
        st.store_container(&ContainerRecord {
            container_id: CONTAINER.into(),
            sender_device: OTHER.into(),
            recipients: vec![DEVICE.into(), OTHER.into()].into(),
            bytes: vec![9; 1000].into(),
            created_ms: 10,
            expires_ms: 20,
        })
        .unwrap();
        st.acknowledge(OTHER, CONTAINER).unwrap();
        st.create_meeting(&MeetingRecord {
            meeting_id: MEETING.into(),
            initiator_device: DEVICE.into(),
            created_ms: 30,
            ended_ms: None.into(),
        })
        .unwrap();
        st.set_member(
            MEETING,
            &MemberRecord {
                device_id: OTHER.into(),
                state: MemberState::Joined,
                updated_ms: 31,
            },
        )
        .unwrap();
        st.end_meeting(MEETING, 40).unwrap();
        st.revoke_device(OTHER, 50).unwrap();
        taken
        // Dropped here: every connection closes.
    };

    let st = open_file(&path);
    let user = st.get_user(USER).unwrap().unwrap();
    assert_eq!(user.privacy, PrivacyMode::AllowList);
    assert_eq!(
        st.get_list(USER, ListKind::Allow).unwrap(),
        vec!["abcd".to_string(), "beef".to_string()]
    );
    let devices = st.list_devices(USER).unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1].revoked_ms.into_option(), Some(50));
    assert_eq!(st.prekey_count(DEVICE).unwrap(), 4);
    // The ledger of handed-out ids survives too.
    let e = st.add_prekeys(DEVICE, vec![prekey(taken.id)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let mut rest: Vec<u32> = std::iter::from_fn(|| st.take_prekey(DEVICE).unwrap())
        .map(|p| p.id)
        .collect();
    rest.push(taken.id);
    rest.sort();
    assert_eq!(rest, vec![1, 2, 3, 4, 5]);
    let pending = st.fetch_pending(DEVICE, 15, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].bytes.as_slice(), &[9; 1000][..]);
    assert_eq!(st.container_count().unwrap(), 1);
    let meeting = st.get_meeting(MEETING).unwrap().unwrap();
    assert_eq!(meeting.ended_ms.into_option(), Some(40));
    assert_eq!(st.list_members(MEETING).unwrap().len(), 1);
    drop(st);

    // The file is in WAL mode, marked as Conclave's, at the latest schema version.
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = raw
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, schema::APPLICATION_ID);
}

#[test]
fn an_empty_file_is_migrated_to_the_latest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let st = SqliteStorage::open(&file_config(&path)).unwrap();
    assert_eq!(st.schema_version().unwrap(), schema::LATEST);
    drop(st);
    let raw = Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::LATEST);
    let tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 9);
    // Reopening migrates nothing and keeps working.
    let st = SqliteStorage::open(&file_config(&path)).unwrap();
    assert_eq!(st.schema_version().unwrap(), schema::LATEST);
}

#[test]
fn migrations_apply_in_order_in_one_transaction() {
    // Applying each migration by hand gives the schema a fresh open creates.
    let dir = tempfile::tempdir().unwrap();
    let by_hand = dir.path().join("by-hand.db");
    let raw = Connection::open(&by_hand).unwrap();
    for sql in schema::MIGRATIONS {
        raw.execute_batch(sql).unwrap();
    }
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStorage::open(&file_config(&fresh)).unwrap());
    let dump = |c: &Connection| -> Vec<String> {
        let mut s = c
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(dump(&raw), dump(&Connection::open(&fresh).unwrap()));
}

#[test]
fn relays_starting_together_migrate_once() {
    // Several instances opening one new file at once: the IMMEDIATE migration transaction
    // lets one create the schema; the others find it done.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("together.db");
    let config = file_config(&path);
    let opened: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| SqliteStorage::open(&config)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for st in opened {
        assert_eq!(st.unwrap().schema_version().unwrap(), schema::LATEST);
    }
}

#[test]
fn a_newer_schema_is_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    drop(open_file(&path));
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", schema::LATEST + 1)
        .unwrap();
    drop(raw);
    let e = plugin()
        .new_storage(&file_config(&path), &host())
        .unwrap_err();
    let LoadCause::Config(pe) = &e.cause else {
        panic!("{e}")
    };
    assert_eq!(pe.kind, ErrorKind::InvalidInput);
    let line = e.to_string();
    assert!(line.contains("newer than the"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(!line.contains('\n'));
    // Nothing was changed: the version is still the newer one.
    let raw = Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::LATEST + 1);
}
