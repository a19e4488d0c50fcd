//! Prekey pools: uploads, the atomic random take, and concurrent takes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ErrorKind;
use crate::host::StorageHandle;
use crate::storage::PrekeyRecord;

use super::{Ctx, Step, fail, hex_id, malformed_ids, ok, refused, same};

/// Threads taking from one pool at once, and the pool's size.
const THREADS: usize = 8;
const POOL: u32 = 240;
/// Rounds of the uniformity check (pools of [`PICK_POOL`]); a uniform pick fails it with
/// probability 4 · (3/4)^64 ≈ 4·10⁻⁸.
const PICK_ROUNDS: u32 = 64;
const PICK_POOL: u32 = 4;
/// How often one thread retries an `Unavailable` take (the host may retry those).
const RETRIES: usize = 200;

/// A distinct prekey record for `id`.
pub(super) fn prekey(id: u32) -> PrekeyRecord {
    let mut public_key = vec![0x04];
    public_key.extend(id.to_be_bytes());
    public_key.extend((0..60u8).map(|i| i ^ (id as u8)));
    let mut signature = vec![0x00, 0xff];
    signature.extend(id.to_le_bytes());
    signature.extend((0..58u8).map(|i| i.wrapping_add(id as u8)));
    PrekeyRecord {
        id,
        public_key: public_key.into(),
        signature: signature.into(),
    }
}

pub(super) fn run(ctx: &Ctx<'_>) -> Step<()> {
    uploads(ctx)?;
    take_each_once(ctx)?;
    unknown_devices(ctx)?;
    uniform_pick(ctx)?;
    concurrent_takes(ctx)?;
    Ok(())
}

fn count(st: &StorageHandle, check: &'static str, device: &str, want: u64) -> Step<()> {
    let got = ok(check, "prekey_count", st.prekey_count(device))?;
    same(check, "prekey_count", got, want)
}

fn uploads(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "prekeys: uploads are all or nothing, duplicates refused";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let device = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    count(st, CHECK, &device, 0)?;
    let taken = ok(CHECK, "take_prekey(empty pool)", st.take_prekey(&device))?;
    same(CHECK, "take_prekey of an empty pool", taken, None)?;
    let size = ok(
        CHECK,
        "add_prekeys([1, 2, 3])",
        st.add_prekeys(&device, (1..=3).map(prekey).collect()),
    )?;
    same(CHECK, "pool size returned by add_prekeys", size, 3)?;
    let size = ok(CHECK, "add_prekeys([])", st.add_prekeys(&device, vec![]))?;
    same(CHECK, "pool size returned by an empty add_prekeys", size, 3)?;
    refused(
        CHECK,
        "add_prekeys([4, 4]) (an id twice)",
        st.add_prekeys(&device, vec![prekey(4), prekey(4)]),
        ErrorKind::Conflict,
    )?;
    count(st, CHECK, &device, 3)?;
    refused(
        CHECK,
        "add_prekeys([5, 2]) (2 is in the pool)",
        st.add_prekeys(&device, vec![prekey(5), prekey(2)]),
        ErrorKind::Conflict,
    )?;
    count(st, CHECK, &device, 3)?;
    // 4 and 5 were refused with their batches, so they were never added.
    let size = ok(
        CHECK,
        "add_prekeys([4, 5])",
        st.add_prekeys(&device, vec![prekey(4), prekey(5)]),
    )?;
    same(CHECK, "pool size after add_prekeys([4, 5])", size, 5)?;
    // The same id on another device is another prekey.
    let other = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    let size = ok(
        CHECK,
        "add_prekeys(other device, [1])",
        st.add_prekeys(&other, vec![prekey(1)]),
    )?;
    same(CHECK, "the other device's pool size", size, 1)?;
    count(st, CHECK, &device, 5)?;
    ctx.pass(CHECK);
    Ok(())
}

fn take_each_once(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "prekeys: take returns each prekey once, consumed ids are refused";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let device = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    let ids = [7u32, 0, u32::MAX, 1_000_000, 42, 3];
    ok(
        CHECK,
        "add_prekeys",
        st.add_prekeys(&device, ids.iter().copied().map(prekey).collect()),
    )?;
    let mut seen = BTreeSet::new();
    for left in (0..ids.len() as u64).rev() {
        let Some(p) = ok(CHECK, "take_prekey", st.take_prekey(&device))? else {
            return Err(fail(
                CHECK,
                format!(
                    "take_prekey returned nothing with {} prekeys left",
                    left + 1
                ),
            ));
        };
        same(CHECK, "a taken prekey (as uploaded)", &p, &prekey(p.id))?;
        if !ids.contains(&p.id) {
            return Err(fail(
                CHECK,
                format!(
                    "take_prekey returned prekey {} that was never uploaded",
                    p.id
                ),
            ));
        }
        if !seen.insert(p.id) {
            return Err(fail(
                CHECK,
                format!("take_prekey returned prekey {} twice", p.id),
            ));
        }
        count(st, CHECK, &device, left)?;
    }
    for _ in 0..2 {
        let taken = ok(CHECK, "take_prekey(emptied pool)", st.take_prekey(&device))?;
        same(CHECK, "take_prekey of an emptied pool", taken, None)?;
    }
    for id in ids {
        refused(
            CHECK,
            &format!("add_prekeys([{id}]) after prekey {id} was handed out"),
            st.add_prekeys(&device, vec![prekey(id)]),
            ErrorKind::Conflict,
        )?;
    }
    refused(
        CHECK,
        "add_prekeys([8, 7]) (7 was handed out)",
        st.add_prekeys(&device, vec![prekey(8), prekey(7)]),
        ErrorKind::Conflict,
    )?;
    count(st, CHECK, &device, 0)?;
    let size = ok(
        CHECK,
        "add_prekeys([8])",
        st.add_prekeys(&device, vec![prekey(8)]),
    )?;
    same(CHECK, "pool size after a fresh upload", size, 1)?;
    let taken = ok(CHECK, "take_prekey", st.take_prekey(&device))?;
    same(CHECK, "the only prekey", taken, Some(prekey(8)))?;
    ctx.pass(CHECK);
    Ok(())
}

fn unknown_devices(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "prekeys: unknown devices and malformed ids";
    let st = ctx.st;
    let unknown = hex_id(16);
    refused(
        CHECK,
        "add_prekeys(unknown device)",
        st.add_prekeys(&unknown, vec![prekey(1)]),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "take_prekey(unknown device)",
        st.take_prekey(&unknown),
        ErrorKind::NotFound,
    )?;
    refused(
        CHECK,
        "prekey_count(unknown device)",
        st.prekey_count(&unknown),
        ErrorKind::NotFound,
    )?;
    for bad in malformed_ids() {
        refused(
            CHECK,
            &format!("add_prekeys({bad:?})"),
            st.add_prekeys(&bad, vec![prekey(1)]),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("take_prekey({bad:?})"),
            st.take_prekey(&bad),
            ErrorKind::InvalidInput,
        )?;
        refused(
            CHECK,
            &format!("prekey_count({bad:?})"),
            st.prekey_count(&bad),
            ErrorKind::InvalidInput,
        )?;
    }
    ctx.pass(CHECK);
    Ok(())
}

/// Every prekey of a small pool must come first now and then: catches "oldest first",
/// "lowest id first" and "last uploaded first" implementations.
fn uniform_pick(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "prekeys: take picks at random";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let device = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    let mut first = [0u32; PICK_POOL as usize];
    for round in 0..PICK_ROUNDS {
        let ids: Vec<u32> = (0..PICK_POOL).map(|i| round * PICK_POOL + i).collect();
        ok(
            CHECK,
            "add_prekeys",
            st.add_prekeys(&device, ids.iter().copied().map(prekey).collect()),
        )?;
        for i in 0..PICK_POOL {
            let Some(p) = ok(CHECK, "take_prekey", st.take_prekey(&device))? else {
                return Err(fail(
                    CHECK,
                    "take_prekey returned nothing from a non-empty pool",
                ));
            };
            if !ids.contains(&p.id) {
                return Err(fail(
                    CHECK,
                    format!("take_prekey returned prekey {} from an earlier round", p.id),
                ));
            }
            if i == 0 {
                first[(p.id % PICK_POOL) as usize] += 1;
            }
        }
    }
    if let Some(never) = first.iter().position(|&n| n == 0) {
        return Err(fail(
            CHECK,
            format!(
                "in {PICK_ROUNDS} pools of {PICK_POOL} prekeys uploaded in id order, the prekey at position {never} was never taken first (first picks by position: {first:?}); the pick is not uniformly random"
            ),
        ));
    }
    ctx.pass(CHECK);
    Ok(())
}

/// Takes until the pool is empty, retrying `Unavailable` a bounded number of times.
fn drain(st: &StorageHandle, device: &str) -> Result<Vec<u32>, String> {
    let mut taken = Vec::new();
    let mut retries = 0;
    loop {
        match st.take_prekey(device) {
            Ok(Some(p)) => {
                if p != prekey(p.id) {
                    return Err(format!("prekey {} came back altered", p.id));
                }
                taken.push(p.id);
            }
            Ok(None) => return Ok(taken),
            Err(e) if e.kind == ErrorKind::Unavailable && retries < RETRIES => {
                retries += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("take_prekey failed: {e}")),
        }
    }
}

fn concurrent_takes(ctx: &Ctx<'_>) -> Step<()> {
    const CHECK: &str = "prekeys: concurrent takes hand out each prekey exactly once";
    let st = ctx.st;
    let user = ctx.user(CHECK)?;
    let device = ctx.device(CHECK, &user, 1_700_000_000_000)?;
    ok(
        CHECK,
        "add_prekeys",
        st.add_prekeys(&device, (0..POOL).map(prekey).collect()),
    )?;
    let results: Vec<Result<Vec<u32>, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let st = st.clone();
                let device = device.as_str();
                scope.spawn(move || drain(&st, device))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a taking thread panicked".into()))
            })
            .collect()
    });
    let mut seen = BTreeSet::new();
    for result in results {
        for id in result.map_err(|e| fail(CHECK, e))? {
            if !seen.insert(id) {
                return Err(fail(
                    CHECK,
                    format!("prekey {id} was handed out twice by {THREADS} threads taking at once"),
                ));
            }
        }
    }
    same(
        CHECK,
        "prekeys handed out to all threads together",
        seen.len(),
        POOL as usize,
    )?;
    count(st, CHECK, &device, 0)?;
    ctx.pass(CHECK);
    Ok(())
}
