//! Meetings and their members.

use crate::ErrorKind;
use crate::storage::{MeetingRecord, MemberRecord, MemberState};

use super::{Ctx, Step, hex_id, malformed_ids, ok, refused, same};

fn member(device_id: &str, state: MemberState, updated_ms: u64) -> MemberRecord {
    MemberRecord {
        device_id: device_id.into(),
        state,
        updated_ms,
    }
}

pub(super) fn run(ctx: &Ctx<'_>) -> Step<()> {
    lifecycle(ctx)?;
    refusals(ctx)?;
    Ok(())
}

fn lifecycle(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "meetings: create, members, end";
    let st = ctx.st;
    let meeting = MeetingRecord {
        meeting_id: hex_id(16).into(),
        initiator_device: hex_id(16).into(),
        created_ms: 1_700_000_000_000,
        ended_ms: None.into(),
    };
    let id = meeting.meeting_id.as_str();
    ok(CHECK, "create_meeting", st.create_meeting(&meeting))?;
    ctx.meeting_created(id);
    let got = ok(CHECK, "get_meeting", st.get_meeting(id))?;
    same(
        CHECK,
        "get_meeting after create_meeting",
        got,
        Some(meeting.clone()),
    )?;
    let listed = ok(CHECK, "list_members(new meeting)", st.list_members(id))?;
    same(CHECK, "members of a new meeting", listed, vec![])?;

    let devices: Vec<String> = (0..5).map(|_| hex_id(16)).collect();
    let states = [
        MemberState::Invited,
        MemberState::Joined,
        MemberState::Left,
        MemberState::Rejected,
        MemberState::Removed,
    ];
    let mut want: Vec<MemberRecord> = devices
        .iter()
        .zip(states)
        .enumerate()
        .map(|(i, (d, s))| member(d, s, 1_700_000_000_000 + i as u64))
        .collect();
    for m in &want {
        ok(CHECK, "set_member", st.set_member(id, m))?;
    }
    want.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    let listed = ok(CHECK, "list_members", st.list_members(id))?;
    same(CHECK, "list_members (by device id)", &listed, &want)?;

    // Updating a member replaces its state and time; the roster keeps one entry each.
    let updated = member(&want[0].device_id, MemberState::Joined, 1_700_000_001_000);
    ok(CHECK, "set_member(update)", st.set_member(id, &updated))?;
    want[0] = updated;
    let listed = ok(CHECK, "list_members", st.list_members(id))?;
    same(CHECK, "list_members after an update", &listed, &want)?;

    ok(CHECK, "end_meeting", st.end_meeting(id, 1_700_000_002_000))?;
    let ended =
        ok(CHECK, "get_meeting", st.get_meeting(id))?.and_then(|m| m.ended_ms.into_option());
    same(
        CHECK,
        "ended_ms after end_meeting",
        ended,
        Some(1_700_000_002_000),
    )?;
    ok(
        CHECK,
        "end_meeting a second time",
        st.end_meeting(id, 1_700_000_003_000),
    )?;
    let ended =
        ok(CHECK, "get_meeting", st.get_meeting(id))?.and_then(|m| m.ended_ms.into_option());
    same(
        CHECK,
        "ended_ms after ending twice (the first time stays)",
        ended,
        Some(1_700_000_002_000),
    )?;
    refused(
        CHECK,
        "set_member after the meeting ended",
        st.set_member(id, &member(&hex_id(16), MemberState::Joined, 1)),
        ErrorKind::Conflict,
    )?;
    let listed = ok(CHECK, "list_members(ended meeting)", st.list_members(id))?;
    same(CHECK, "list_members of an ended meeting", &listed, &want)?;
    ctx.pass(CHECK);
    Ok(())
}

fn refusals(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "meetings: duplicates, unknown meetings, malformed input";
    let st = ctx.st;
    let meeting = MeetingRecord {
        meeting_id: hex_id(16).into(),
        initiator_device: hex_id(16).into(),
        created_ms: 1_700_000_000_000,
        ended_ms: None.into(),
    };
    let id = meeting.meeting_id.as_str();
    ok(CHECK, "create_meeting", st.create_meeting(&meeting))?;
    ctx.meeting_created(id);
    let dup = MeetingRecord {
        initiator_device: hex_id(16).into(),
        created_ms: 5,
        ..meeting.clone()
    };
    refused(
        CHECK,
        "create_meeting of an existing id",
        st.create_meeting(&dup),
        ErrorKind::Conflict,
    )?;
    let got = ok(CHECK, "get_meeting", st.get_meeting(id))?;
    same(
        CHECK,
        "the meeting after a refused duplicate",
        got,
        Some(meeting.clone()),
    )?;

    let unknown = hex_id(16);
    let got = ok(CHECK, "get_meeting(unknown)", st.get_meeting(&unknown))?;
    same(CHECK, "get_meeting of an unknown id", got, None)?;
    refused(
        CHECK,
        "set_member(unknown meeting)",
        st.set_member(&unknown, &member(&hex_id(16), MemberState::Invited, 1)),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "list_members(unknown meeting)",
        st.list_members(&unknown),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "end_meeting(unknown meeting)",
        st.end_meeting(&unknown, 1),
        ErrorKind::NotFound,
    )?;

    let ended = MeetingRecord {
        meeting_id: hex_id(16).into(),
        ended_ms: Some(1).into(),
        ..meeting.clone()
    };
    refused(
        CHECK,
        "create_meeting with ended_ms set",
        st.create_meeting(&ended),
        ErrorKind::InvalidInput,
    )?;
    let got = ok(CHECK, "get_meeting", st.get_meeting(&ended.meeting_id))?;
    same(CHECK, "a meeting refused for ended_ms", got, None)?;
    let late = MeetingRecord {
        meeting_id: hex_id(16).into(),
        created_ms: u64::MAX,
        ..meeting.clone()
    };
    refused(
        CHECK,
        "create_meeting(created_ms = u64::MAX)",
        st.create_meeting(&late),
        ErrorKind::InvalidInput,
    )?;
    refused(
        CHECK,
        "set_member(updated_ms = u64::MAX)",
        st.set_member(id, &member(&hex_id(16), MemberState::Invited, u64::MAX)),
        ErrorKind::InvalidInput,
    )?;
    refused(
        CHECK,
        "end_meeting(at_ms = u64::MAX)",
        st.end_meeting(id, u64::MAX),
        ErrorKind::InvalidInput,
    )?;
    for bad in malformed_ids() {
        let with_bad_id = MeetingRecord {
            meeting_id: bad.as_str().into(),
            ..meeting.clone()
        };
        refused(
            CHECK,
            &format!("create_meeting({bad:?})"),
            st.create_meeting(&with_bad_id),
            ErrorKind::InvalidInput,
        )?;
        let bad_initiator = MeetingRecord {
            meeting_id: hex_id(16).into(),
            initiator_device: bad.as_str().into(),
            ..meeting.clone()
        };
        refused(
            CHECK,
            &format!("create_meeting(initiator {bad:?})"),
            st.create_meeting(&bad_initiator),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("get_meeting({bad:?})"),
            st.get_meeting(&bad),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("set_member(meeting {bad:?})"),
            st.set_member(&bad, &member(&hex_id(16), MemberState::Invited, 1)),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("set_member(device {bad:?})"),
            st.set_member(id, &member(&bad, MemberState::Invited, 1)),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("list_members({bad:?})"),
            st.list_members(&bad),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("end_meeting({bad:?})"),
            st.end_meeting(&bad, 1),
            ErrorKind::InvalidInput,
        )?;
    }
    let listed = ok(CHECK, "list_members", st.list_members(id))?;
    same(CHECK, "members after refused calls", listed, vec![])?;
    let got = ok(CHECK, "get_meeting", st.get_meeting(id))?;
    same(CHECK, "the meeting after refused calls", got, Some(meeting))?;
    ctx.pass(CHECK);
    Ok(())
}
