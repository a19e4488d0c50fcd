//! Containers: storing, fetching in order with a limit and expiry, acknowledging, and
//! expiring. All times lie in January 1970 (below [`SUITE_EPOCH_END_MS`]).

use crate::ErrorKind;
use crate::host::StorageHandle;
use crate::storage::{ContainerRecord, PendingContainer};

use super::{Ctx, SUITE_EPOCH_END_MS, Step, hex_id, malformed_ids, ok, refused, same};

/// The base time of this area's containers.
const T: u64 = 200_000_000;
/// Expiry far enough for the whole area.
const LATER: u64 = T + 10_000;

fn record(sender: &str, recipients: &[&str], created_ms: u64, expires_ms: u64) -> ContainerRecord {
    let container_id = hex_id(16);
    let mut bytes = vec![0u8, 0xff, 0x7f];
    bytes.extend(container_id.bytes());
    ContainerRecord {
        container_id: container_id.into(),
        sender_device: sender.into(),
        recipients: recipients.iter().map(|r| (*r).into()).collect(),
        bytes: bytes.into(),
        created_ms,
        expires_ms,
    }
}

fn pending(c: &ContainerRecord) -> PendingContainer {
    PendingContainer {
        container_id: c.container_id.clone(),
        sender_device: c.sender_device.clone(),
        bytes: c.bytes.clone(),
        created_ms: c.created_ms,
        expires_ms: c.expires_ms,
    }
}

fn ids(list: &[PendingContainer]) -> Vec<&str> {
    list.iter().map(|p| p.container_id.as_str()).collect()
}

pub(super) fn run(ctx: &Ctx<'_>) -> Step<()> {
    // Leftovers of an interrupted earlier run would upset the counts below.
    ok(
        "containers: sweep",
        "expire",
        ctx.st.expire(SUITE_EPOCH_END_MS),
    )?;
    lifecycle(ctx)?;
    refusals(ctx)?;
    large_and_edge_times(ctx)?;
    Ok(())
}

fn fetch(
    st: &StorageHandle,
    check: &'static str,
    device: &str,
    now: u64,
    limit: u32,
) -> Step<Vec<PendingContainer>> {
    ok(check, "fetch_pending", st.fetch_pending(device, now, limit))
}

fn container_count(st: &StorageHandle, check: &'static str, want: u64) -> Step<()> {
    let got = ok(check, "container_count", st.container_count())?;
    same(check, "container_count", got, want)
}

fn lifecycle(ctx: &Ctx<'_>) -> Step<()> {
    const ORDER: &str = "containers: stored and fetched oldest first, with limit and expiry";
    const ACK: &str = "containers: acknowledgement, the container goes with its last delivery";
    const EXPIRE: &str = "containers: expire deletes expired containers and counts them";
    let st = ctx.st;
    let user = ctx.user(ORDER)?;
    let sender = ctx.device(ORDER, &user, 1)?;
    let a = ctx.device(ORDER, &user, 2)?;
    let b = ctx.device(ORDER, &user, 3)?;
    let base = ok(ORDER, "container_count", st.container_count())?;

    let for_both = record(&sender, &[&a, &b], T + 300, LATER);
    let tie_1 = record(&sender, &[&a], T + 100, LATER);
    // A recipient listed twice gets one delivery.
    let tie_2 = record(&sender, &[&a, &a], T + 100, LATER);
    let short = record(&sender, &[&a], T + 200, T + 500);
    for c in [&for_both, &tie_1, &tie_2, &short] {
        ok(ORDER, "store_container", st.store_container(c))?;
    }
    container_count(st, ORDER, base + 4)?;
    let (first, second) = if tie_1.container_id <= tie_2.container_id {
        (&tie_1, &tie_2)
    } else {
        (&tie_2, &tie_1)
    };
    let all: Vec<PendingContainer> = [first, second, &short, &for_both]
        .into_iter()
        .map(pending)
        .collect();
    let got = fetch(st, ORDER, &a, T + 400, 100)?;
    same(
        ORDER,
        "fetch_pending (by creation time, then id)",
        &got,
        &all,
    )?;
    let again = fetch(st, ORDER, &a, T + 400, 100)?;
    same(
        ORDER,
        "fetch_pending a second time (fetching removes nothing)",
        &again,
        &all,
    )?;
    let got = fetch(st, ORDER, &a, T + 400, 2)?;
    same(
        ORDER,
        "fetch_pending with limit 2",
        ids(&got),
        ids(&all[..2]),
    )?;
    let got = fetch(st, ORDER, &a, T + 400, 0)?;
    same(ORDER, "fetch_pending with limit 0", got.len(), 0)?;
    let got = fetch(st, ORDER, &a, T + 499, 100)?;
    same(
        ORDER,
        "fetch_pending 1 ms before an expiry",
        ids(&got),
        ids(&all),
    )?;
    let got = fetch(st, ORDER, &a, T + 500, 100)?;
    let unexpired: Vec<PendingContainer> = [first, second, &for_both]
        .into_iter()
        .map(pending)
        .collect();
    same(
        ORDER,
        "fetch_pending at the expiry time (expired: not returned)",
        ids(&got),
        ids(&unexpired),
    )?;
    let got = fetch(st, ORDER, &b, T + 400, 100)?;
    same(
        ORDER,
        "fetch_pending for the second recipient",
        got,
        vec![pending(&for_both)],
    )?;
    let got = fetch(st, ORDER, &sender, T + 400, 100)?;
    same(ORDER, "fetch_pending for the sender", got.len(), 0)?;
    let got = fetch(st, ORDER, &a, u64::MAX, 100)?;
    same(ORDER, "fetch_pending at now_ms = u64::MAX", got.len(), 0)?;
    ctx.pass(ORDER);

    let acked = ok(
        ACK,
        "acknowledge",
        st.acknowledge(&a, &for_both.container_id),
    )?;
    same(ACK, "acknowledge of a pending delivery", acked, true)?;
    let acked = ok(
        ACK,
        "acknowledge",
        st.acknowledge(&a, &for_both.container_id),
    )?;
    same(ACK, "acknowledge a second time", acked, false)?;
    container_count(st, ACK, base + 4)?;
    let got = fetch(st, ACK, &b, T + 400, 100)?;
    same(
        ACK,
        "the other recipient's delivery after the first acknowledgement",
        ids(&got),
        vec![for_both.container_id.as_str()],
    )?;
    let got = fetch(st, ACK, &a, T + 400, 100)?;
    same(
        ACK,
        "fetch_pending after acknowledging",
        ids(&got),
        ids(&all[..3]),
    )?;
    let acked = ok(
        ACK,
        "acknowledge",
        st.acknowledge(&b, &for_both.container_id),
    )?;
    same(ACK, "acknowledge of the last delivery", acked, true)?;
    container_count(st, ACK, base + 3)?;
    let got = fetch(st, ACK, &b, T + 400, 100)?;
    same(
        ACK,
        "fetch_pending after acknowledging everything",
        got.len(),
        0,
    )?;
    let acked = ok(
        ACK,
        "acknowledge(unknown container)",
        st.acknowledge(&a, &hex_id(16)),
    )?;
    same(ACK, "acknowledge of an unknown container", acked, false)?;
    let acked = ok(
        ACK,
        "acknowledge(unknown device)",
        st.acknowledge(&hex_id(16), &first.container_id),
    )?;
    same(ACK, "acknowledge by an unknown device", acked, false)?;
    let acked = ok(
        ACK,
        "acknowledge(non-recipient)",
        st.acknowledge(&b, &first.container_id),
    )?;
    same(
        ACK,
        "acknowledge by a device that is not a recipient",
        acked,
        false,
    )?;
    container_count(st, ACK, base + 3)?;
    ctx.pass(ACK);

    let deleted = ok(EXPIRE, "expire(before any expiry)", st.expire(T + 499))?;
    same(EXPIRE, "containers deleted before any expiry", deleted, 0)?;
    let deleted = ok(EXPIRE, "expire(at an expiry)", st.expire(T + 500))?;
    same(
        EXPIRE,
        "containers deleted at the expiry of one",
        deleted,
        1,
    )?;
    container_count(st, EXPIRE, base + 2)?;
    let got = fetch(st, EXPIRE, &a, T, 100)?;
    same(
        EXPIRE,
        "fetch_pending after expire",
        ids(&got),
        ids(&all[..2]),
    )?;
    let acked = ok(
        EXPIRE,
        "acknowledge(expired)",
        st.acknowledge(&a, &short.container_id),
    )?;
    same(EXPIRE, "acknowledge of an expired container", acked, false)?;
    let deleted = ok(EXPIRE, "expire(after all)", st.expire(LATER))?;
    same(EXPIRE, "containers deleted at the last expiry", deleted, 2)?;
    container_count(st, EXPIRE, base)?;
    let got = fetch(st, EXPIRE, &a, 0, 100)?;
    same(
        EXPIRE,
        "fetch_pending after expiring everything",
        got.len(),
        0,
    )?;
    ctx.pass(EXPIRE);
    Ok(())
}

fn refusals(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "containers: duplicates, unknown recipients, malformed input";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let sender = ctx.device(CHECK, &user, 1)?;
    let a = ctx.device(CHECK, &user, 2)?;
    let base = ok(CHECK, "container_count", st.container_count())?;
    let c = record(&sender, &[&a], T, LATER);
    ok(CHECK, "store_container", st.store_container(&c))?;
    // Same id, other recipient and time: refused whole.
    let dup = ContainerRecord {
        container_id: c.container_id.clone(),
        ..record(&sender, &[&sender], T + 1, LATER)
    };
    refused(
        CHECK,
        "store_container of an existing id",
        st.store_container(&dup),
        ErrorKind::Conflict,
    )?;
    let got = fetch(st, CHECK, &sender, T, 100)?;
    same(
        CHECK,
        "fetch_pending for the refused duplicate's recipient",
        got.len(),
        0,
    )?;
    container_count(st, CHECK, base + 1)?;

    let unknown = hex_id(16);
    let partial = record(&sender, &[&a, &unknown], T, LATER);
    refused(
        CHECK,
        "store_container to an unknown device",
        st.store_container(&partial),
        ErrorKind::NotFound,
    )?;
    container_count(st, CHECK, base + 1)?;
    let got = fetch(st, CHECK, &a, T, 100)?;
    same(
        CHECK,
        "the known recipient after a refused container",
        ids(&got),
        vec![c.container_id.as_str()],
    )?;
    refused(
        CHECK,
        "store_container with no recipient",
        st.store_container(&record(&sender, &[], T, LATER)),
        ErrorKind::InvalidInput,
    )?;
    refused(
        CHECK,
        "fetch_pending(unknown device)",
        st.fetch_pending(&unknown, T, 100),
        ErrorKind::NotFound,
    )?;
    for bad in malformed_ids() {
        let with_bad_id = ContainerRecord {
            container_id: bad.as_str().into(),
            ..record(&sender, &[&a], T, LATER)
        };
        refused(
            CHECK,
            &format!("store_container(container id {bad:?})"),
            st.store_container(&with_bad_id),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("store_container(recipient {bad:?})"),
            st.store_container(&record(&sender, &[&a, &bad], T, LATER)),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("store_container(sender {bad:?})"),
            st.store_container(&record(&bad, &[&a], T, LATER)),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("fetch_pending({bad:?})"),
            st.fetch_pending(&bad, T, 100),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("acknowledge(device {bad:?})"),
            st.acknowledge(&bad, &c.container_id),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("acknowledge(container {bad:?})"),
            st.acknowledge(&a, &bad),
            ErrorKind::InvalidInput,
        )?;
    }
    refused(
        CHECK,
        "store_container(expires_ms = u64::MAX)",
        st.store_container(&record(&sender, &[&a], T, u64::MAX)),
        ErrorKind::InvalidInput,
    )?;
    refused(
        CHECK,
        "store_container(created_ms = u64::MAX)",
        st.store_container(&record(&sender, &[&a], u64::MAX, LATER)),
        ErrorKind::InvalidInput,
    )?;
    container_count(st, CHECK, base + 1)?;
    let acked = ok(CHECK, "acknowledge", st.acknowledge(&a, &c.container_id))?;
    same(CHECK, "acknowledge", acked, true)?;
    container_count(st, CHECK, base)?;
    ctx.pass(CHECK);
    Ok(())
}

fn large_and_edge_times(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "containers: large bodies and edge times round-trip";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let sender = ctx.device(CHECK, &user, 1)?;
    let a = ctx.device(CHECK, &user, 2)?;
    let big = ContainerRecord {
        bytes: (0..256 * 1024u32).map(|i| (i % 251) as u8).collect(),
        ..record(&sender, &[&a], 0, LATER)
    };
    ok(CHECK, "store_container(256 KiB)", st.store_container(&big))?;
    // Already expired when stored: kept until `expire`, never fetched. Two deliveries, so
    // that `expire` counting deliveries instead of containers shows.
    let stale = record(&sender, &[&a, &sender], T + 10, T + 10);
    ok(
        CHECK,
        "store_container(expires_ms = created_ms)",
        st.store_container(&stale),
    )?;
    let got = fetch(st, CHECK, &a, T + 10, 10)?;
    same(
        CHECK,
        "fetch_pending with a large and an expired container",
        got,
        vec![pending(&big)],
    )?;
    let deleted = ok(CHECK, "expire", st.expire(LATER))?;
    same(CHECK, "containers deleted by expire", deleted, 2)?;
    ctx.pass(CHECK);
    Ok(())
}
