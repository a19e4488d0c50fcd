//! Devices, and revocation with everything it deletes.

use crate::ErrorKind;
use crate::storage::{ContainerRecord, DeviceRecord};

use super::prekeys::prekey;
use super::{Ctx, Step, device_record, hex_id, malformed_ids, ok, refused, same};

pub(super) fn run(ctx: &Ctx<'_>) -> Step<()> {
    add_get_list(ctx)?;
    refusals(ctx)?;
    Ok(())
}

fn add_get_list(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "devices: add, get, list in creation order";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let listed = ok(
        CHECK,
        "list_devices(user without devices)",
        st.list_devices(&user),
    )?;
    same(CHECK, "devices of a fresh user", listed, vec![])?;
    // Added out of order; two share a creation time (then ordered by device id).
    let late = ctx.device(CHECK, &user, 1_700_000_000_300)?;
    let early_a = ctx.device(CHECK, &user, 1_700_000_000_100)?;
    let early_b = ctx.device(CHECK, &user, 1_700_000_000_100)?;
    let mut want: Vec<DeviceRecord> = [
        (&late, 1_700_000_000_300),
        (&early_a, 1_700_000_000_100),
        (&early_b, 1_700_000_000_100),
    ]
    .into_iter()
    .map(|(id, t)| device_record(&user, id, t))
    .collect();
    for device in &want {
        let got = ok(CHECK, "get_device", st.get_device(&device.device_id))?;
        same(
            CHECK,
            "get_device after add_device",
            got,
            Some(device.clone()),
        )?;
    }
    want.sort_by(|a, b| {
        (a.created_ms, a.device_id.as_str()).cmp(&(b.created_ms, b.device_id.as_str()))
    });
    let listed = ok(CHECK, "list_devices", st.list_devices(&user))?;
    same(
        CHECK,
        "list_devices (by creation time, then id)",
        listed,
        want,
    )?;
    let unknown = ok(CHECK, "get_device(unknown)", st.get_device(&hex_id(16)))?;
    same(CHECK, "get_device of an unknown id", unknown, None)?;
    ctx.pass(CHECK);
    Ok(())
}

fn refusals(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "devices: duplicates, unknown users, malformed input";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let other_user = ctx.user(CHECK)?;
    let device = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    refused(
        CHECK,
        "add_device of an existing id",
        st.add_device(&device_record(&user, &device, 1)),
        ErrorKind::Conflict,
    )?;
    refused(
        CHECK,
        "add_device of an existing id for another user",
        st.add_device(&device_record(&other_user, &device, 1)),
        ErrorKind::Conflict,
    )?;
    let got = ok(CHECK, "get_device", st.get_device(&device))?;
    same(
        CHECK,
        "the device after refused duplicates",
        got,
        Some(device_record(&user, &device, 1_700_000_000_000)),
    )?;
    let listed = ok(
        CHECK,
        "list_devices(other user)",
        st.list_devices(&other_user),
    )?;
    same(CHECK, "the other user's devices", listed, vec![])?;

    let orphan = hex_id(16);
    refused(
        CHECK,
        "add_device for an unknown user",
        st.add_device(&device_record(&hex_id(32), &orphan, 1)),
        ErrorKind::NotFound,
    )?;
    let got = ok(CHECK, "get_device", st.get_device(&orphan))?;
    same(CHECK, "a device refused for its unknown user", got, None)?;
    refused(
        CHECK,
        "list_devices(unknown user)",
        st.list_devices(&hex_id(32)),
        ErrorKind::NotFound,
    )?;

    let revoked = DeviceRecord {
        revoked_ms: Some(5).into(),
        ..device_record(&user, &hex_id(16), 1)
    };
    refused(
        CHECK,
        "add_device with revoked_ms set",
        st.add_device(&revoked),
        ErrorKind::InvalidInput,
    )?;
    refused(
        CHECK,
        "add_device(created_ms = u64::MAX)",
        st.add_device(&device_record(&user, &hex_id(16), u64::MAX)),
        ErrorKind::InvalidInput,
    )?;
    for bad in malformed_ids() {
        let call = format!("add_device(device id {bad:?})");
        let r = st.add_device(&device_record(&user, &bad, 1));
        refused(CHECK, &call, r, ErrorKind::InvalidInput)?;
        let call = format!("get_device({bad:?})");
        refused(CHECK, &call, st.get_device(&bad), ErrorKind::InvalidInput)?;
        let call = format!("list_devices({bad:?})");
        refused(CHECK, &call, st.list_devices(&bad), ErrorKind::InvalidInput)?;
        let call = format!("revoke_device({bad:?})");
        refused(
            CHECK,
            &call,
            st.revoke_device(&bad, 1),
            ErrorKind::InvalidInput,
        )?;
    }
    ctx.pass(CHECK);
    Ok(())
}

/// Revocation marks the device, keeps the first time, and deletes its prekeys and
/// deliveries (and containers left without a delivery) in the same transaction.
pub(super) fn revocation(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "devices: revocation deletes prekeys and deliveries";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let doomed = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    let other = ctx.device(CHECK, &user, 1_700_000_000_001)?;
    ok(
        CHECK,
        "add_prekeys",
        st.add_prekeys(&doomed, (1..=5).map(prekey).collect()),
    )?;
    let container = |recipients: &[&String]| ContainerRecord {
        container_id: hex_id(16).into(),
        sender_device: other.as_str().into(),
        recipients: recipients.iter().map(|r| r.as_str().into()).collect(),
        bytes: vec![1, 2, 3].into(),
        created_ms: 100_000_000,
        expires_ms: 900_000_000,
    };
    let only_doomed = container(&[&doomed]);
    let both = container(&[&doomed, &other]);
    let before = ok(CHECK, "container_count", st.container_count())?;
    ok(CHECK, "store_container", st.store_container(&only_doomed))?;
    ok(CHECK, "store_container", st.store_container(&both))?;

    ok(
        CHECK,
        "revoke_device",
        st.revoke_device(&doomed, 1_700_000_001_000),
    )?;
    let got = ok(CHECK, "get_device", st.get_device(&doomed))?;
    let revoked_ms = got.as_ref().and_then(|d| d.revoked_ms.into_option());
    same(
        CHECK,
        "revoked_ms after revoke_device",
        revoked_ms,
        Some(1_700_000_001_000),
    )?;
    ok(
        CHECK,
        "revoke_device a second time",
        st.revoke_device(&doomed, 1_700_000_002_000),
    )?;
    let got = ok(CHECK, "get_device", st.get_device(&doomed))?;
    let revoked_ms = got.as_ref().and_then(|d| d.revoked_ms.into_option());
    same(
        CHECK,
        "revoked_ms after revoking twice (the first time stays)",
        revoked_ms,
        Some(1_700_000_001_000),
    )?;
    let listed = ok(CHECK, "list_devices", st.list_devices(&user))?;
    let listed_revoked = listed
        .iter()
        .find(|d| d.device_id.as_str() == doomed)
        .and_then(|d| d.revoked_ms.into_option());
    same(
        CHECK,
        "the revoked device in list_devices",
        listed_revoked,
        Some(1_700_000_001_000),
    )?;

    let count = ok(CHECK, "prekey_count(revoked)", st.prekey_count(&doomed))?;
    same(CHECK, "a revoked device's pool size", count, 0)?;
    refused(
        CHECK,
        "take_prekey(revoked device)",
        st.take_prekey(&doomed),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "add_prekeys(revoked device)",
        st.add_prekeys(&doomed, vec![prekey(100)]),
        ErrorKind::NotFound,
    )?;
    let pending = ok(
        CHECK,
        "fetch_pending(revoked)",
        st.fetch_pending(&doomed, 0, 100),
    )?;
    same(
        CHECK,
        "a revoked device's pending containers",
        pending.len(),
        0,
    )?;
    let acked = ok(
        CHECK,
        "acknowledge(revoked device)",
        st.acknowledge(&doomed, &both.container_id),
    )?;
    same(CHECK, "acknowledging as a revoked device", acked, false)?;
    let after = ok(CHECK, "container_count", st.container_count())?;
    same(
        CHECK,
        "containers after revocation (the one only for the revoked device is gone)",
        after,
        before + 1,
    )?;
    let pending = ok(
        CHECK,
        "fetch_pending(other)",
        st.fetch_pending(&other, 0, 100),
    )?;
    let ids: Vec<&str> = pending.iter().map(|p| p.container_id.as_str()).collect();
    same(
        CHECK,
        "the other recipient's pending containers",
        ids,
        vec![both.container_id.as_str()],
    )?;
    refused(
        CHECK,
        "store_container to a revoked device",
        st.store_container(&container(&[&doomed])),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "revoke_device(unknown)",
        st.revoke_device(&hex_id(16), 1),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "revoke_device(at_ms = u64::MAX)",
        st.revoke_device(&other, u64::MAX),
        ErrorKind::InvalidInput,
    )?;
    let acked = ok(
        CHECK,
        "acknowledge",
        st.acknowledge(&other, &both.container_id),
    )?;
    same(CHECK, "acknowledging the shared container", acked, true)?;
    let after = ok(CHECK, "container_count", st.container_count())?;
    same(
        CHECK,
        "containers after the last acknowledgement",
        after,
        before,
    )?;
    ctx.pass(CHECK);
    Ok(())
}
