//! Users, privacy modes and allow/deny lists.

use crate::ErrorKind;
use crate::storage::{ListKind, PrivacyMode, UserRecord};

use super::{Ctx, Step, hex_id, malformed_ids, ok, refused, same};

pub(super) fn run(ctx: &Ctx<'_>) -> Step<()> {
    create_and_get(ctx)?;
    privacy(ctx)?;
    lists(ctx)?;
    bad_arguments(ctx)?;
    Ok(())
}

fn create_and_get(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "users: create, get, duplicates";
    let st = ctx.st;
    let user = UserRecord {
        user_hash: hex_id(32).into(),
        privacy: PrivacyMode::AllowList,
        created_ms: 1_700_000_000_123,
    };
    ok(CHECK, "create_user", st.create_user(&user))?;
    let got = ok(CHECK, "get_user", st.get_user(&user.user_hash))?;
    same(CHECK, "get_user after create_user", got, Some(user.clone()))?;
    let again = UserRecord {
        privacy: PrivacyMode::Everyone,
        created_ms: 5,
        ..user.clone()
    };
    refused(
        CHECK,
        "create_user of an existing hash",
        st.create_user(&again),
        ErrorKind::Conflict,
    )?;
    let got = ok(CHECK, "get_user", st.get_user(&user.user_hash))?;
    same(CHECK, "user after a refused duplicate", got, Some(user))?;
    let unknown = ok(CHECK, "get_user(unknown)", st.get_user(&hex_id(32)))?;
    same(CHECK, "get_user of an unknown hash", unknown, None)?;
    // The largest storable time round-trips.
    let late = UserRecord {
        user_hash: hex_id(32).into(),
        privacy: PrivacyMode::DenyList,
        created_ms: i64::MAX as u64,
    };
    ok(
        CHECK,
        "create_user(created_ms = i64::MAX)",
        st.create_user(&late),
    )?;
    let got = ok(CHECK, "get_user", st.get_user(&late.user_hash))?;
    same(CHECK, "user created at i64::MAX", got, Some(late))?;
    ctx.pass(CHECK);
    Ok(())
}

fn privacy(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "users: privacy mode";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    for mode in [
        PrivacyMode::AllowList,
        PrivacyMode::DenyList,
        PrivacyMode::Everyone,
    ] {
        ok(CHECK, "set_privacy", st.set_privacy(&user, mode))?;
        let got = ok(CHECK, "get_user", st.get_user(&user))?.map(|u| u.privacy);
        same(CHECK, "privacy after set_privacy", got, Some(mode))?;
    }
    refused(
        CHECK,
        "set_privacy(unknown user)",
        st.set_privacy(&hex_id(32), PrivacyMode::AllowList),
        ErrorKind::NotFound,
    )?;
    ctx.pass(CHECK);
    Ok(())
}

fn lists(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "users: allow and deny lists";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    for kind in [ListKind::Allow, ListKind::Deny] {
        let got = ok(CHECK, "get_list(fresh user)", st.get_list(&user, kind))?;
        same(CHECK, "a fresh user's list", got, vec![])?;
    }
    let ids: Vec<String> = (0..4).map(|_| hex_id(32)).collect();
    let entries = vec![
        ids[2].clone(),
        ids[0].clone(),
        ids[1].clone(),
        ids[0].clone(),
    ];
    ok(
        CHECK,
        "set_list(allow)",
        st.set_list(&user, ListKind::Allow, &entries),
    )?;
    let mut want = ids[..3].to_vec();
    want.sort();
    let got = ok(
        CHECK,
        "get_list(allow)",
        st.get_list(&user, ListKind::Allow),
    )?;
    same(
        CHECK,
        "the allow list (sorted, duplicates once)",
        got,
        want.clone(),
    )?;
    let got = ok(CHECK, "get_list(deny)", st.get_list(&user, ListKind::Deny))?;
    same(
        CHECK,
        "the deny list after setting the allow list",
        got,
        vec![],
    )?;

    ok(
        CHECK,
        "set_list(deny)",
        st.set_list(&user, ListKind::Deny, &ids[3..]),
    )?;
    let got = ok(
        CHECK,
        "get_list(allow)",
        st.get_list(&user, ListKind::Allow),
    )?;
    same(
        CHECK,
        "the allow list after setting the deny list",
        got,
        want,
    )?;

    let replacement = vec![hex_id(32)];
    ok(
        CHECK,
        "set_list(allow, replacement)",
        st.set_list(&user, ListKind::Allow, &replacement),
    )?;
    let got = ok(
        CHECK,
        "get_list(allow)",
        st.get_list(&user, ListKind::Allow),
    )?;
    same(CHECK, "the allow list after replacing it", got, replacement)?;

    // A malformed entry refuses the whole call and leaves the list as it was.
    let bad = vec![hex_id(32), "NOT-HEX".to_string()];
    refused(
        CHECK,
        "set_list with a malformed entry",
        st.set_list(&user, ListKind::Deny, &bad),
        ErrorKind::InvalidInput,
    )?;
    let got = ok(CHECK, "get_list(deny)", st.get_list(&user, ListKind::Deny))?;
    same(
        CHECK,
        "the deny list after a refused set_list",
        got,
        ids[3..].to_vec(),
    )?;

    ok(
        CHECK,
        "set_list(deny, [])",
        st.set_list(&user, ListKind::Deny, &[]),
    )?;
    let got = ok(CHECK, "get_list(deny)", st.get_list(&user, ListKind::Deny))?;
    same(CHECK, "the deny list after clearing it", got, vec![])?;

    let unknown = hex_id(32);
    refused(
        CHECK,
        "set_list(unknown user)",
        st.set_list(&unknown, ListKind::Allow, &[]),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "get_list(unknown user)",
        st.get_list(&unknown, ListKind::Deny),
        ErrorKind::NotFound,
    )?;
    ctx.pass(CHECK);
    Ok(())
}

fn bad_arguments(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "users: malformed hashes and times are invalid input";
    let st = ctx.st;
    for bad in malformed_ids() {
        let user = UserRecord {
            user_hash: bad.as_str().into(),
            privacy: PrivacyMode::Everyone,
            created_ms: 1,
        };
        let call = format!("create_user({bad:?})");
        refused(CHECK, &call, st.create_user(&user), ErrorKind::InvalidInput)?;
        let call = format!("get_user({bad:?})");
        refused(CHECK, &call, st.get_user(&bad), ErrorKind::InvalidInput)?;
    }
    let user = UserRecord {
        user_hash: hex_id(32).into(),
        privacy: PrivacyMode::Everyone,
        created_ms: u64::MAX,
    };
    refused(
        CHECK,
        "create_user(created_ms = u64::MAX)",
        st.create_user(&user),
        ErrorKind::InvalidInput,
    )?;
    let got = ok(CHECK, "get_user", st.get_user(&user.user_hash))?;
    same(CHECK, "a user refused for its time", got, None)?;
    ctx.pass(CHECK);
    Ok(())
}
