//! The online subcommands: `register`, `call`, `inbox`, `listen`, `accept`, `reject`,
//! `leave`, `remove` and `send`, on the SDK's [`Session`] (and, with `--media`, its
//! [`MeetingRunner`]).

use std::path::Path;
use std::sync::Arc;

use conclave_client::api::{
    Account, CallRecord, Contact, Credentials, InviteRecord, InviteState, MeetingOptions,
    MeetingRunner, Received, Role, Session, SessionEvent, SessionOptions, UserBundles,
    new_device_of,
};
use conclave_client::container::{CallType, Payload};
use conclave_client::identity::{Identity, IdentityStore, fingerprint};
use conclave_crypto::CryptoProvider;
use serde_json::json;

use crate::commands::{now_ms, provider};
use crate::display::{emit, received, short};
use crate::media::{Show, names, sources};
use crate::{CallKind, Cli, Command, MediaArgs};

type Error = Box<dyn std::error::Error>;

/// Does this command need a relay?
pub fn is_online(c: &Command) -> bool {
    matches!(
        c,
        Command::Register { .. }
            | Command::Call { .. }
            | Command::Inbox { .. }
            | Command::Listen { .. }
            | Command::Accept { .. }
            | Command::Reject { .. }
            | Command::Leave { .. }
            | Command::Remove { .. }
            | Command::Send { .. }
    )
}

/// A token from the environment, else the development credential.
fn credentials() -> Credentials {
    match std::env::var("CONCLAVE_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Credentials::Token(t.trim().to_string()),
        _ => Credentials::Dev,
    }
}

fn options() -> SessionOptions {
    SessionOptions {
        credentials: credentials(),
        ..SessionOptions::default()
    }
}

pub fn run(cli: Cli) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(dispatch(cli))
}

/// An account directory: its account record and the session of its identity.
struct Opened {
    account: Account,
    session: Session,
}

async fn open_account(p: Arc<dyn CryptoProvider>, dir: &Path) -> Result<Opened, Error> {
    let account = Account::load(dir)?;
    let store = IdentityStore::new(dir);
    let identity = store.load(p)?;
    if hex::encode(identity.device_id()) != account.device_id {
        return Err(format!(
            "{}: the account's device {} is not this identity's device",
            Account::path(dir).display(),
            account.device_id
        )
        .into());
    }
    let client = conclave_client::api::RelayClient::new(&account.relay)?;
    let session = Session::connect_with_hash(
        client,
        identity,
        Some(store.clone()),
        &account.user_hash,
        options(),
    )
    .await?;
    Ok(Opened { account, session })
}

async fn dispatch(cli: Cli) -> Result<(), Error> {
    let p = provider(cli.crypto, &cli.pkcs11)?;
    let json_mode = cli.json;
    match cli.command {
        Command::Register {
            relay,
            dir,
            username,
            prekeys,
            device_of,
        } => register(p, json_mode, &relay, &dir, &username, prekeys, device_of).await,
        Command::Call {
            dir,
            call_type,
            media,
            users,
        } => call(p, json_mode, &dir, call_type, &media, &users).await,
        Command::Inbox { dir } => inbox(p, json_mode, &dir).await,
        Command::Listen { dir, count } => listen(p, json_mode, &dir, count).await,
        Command::Accept {
            dir,
            meeting_id,
            media,
        } => accept(p, json_mode, &dir, &meeting_id, &media).await,
        Command::Leave { dir, meeting_id } => leave(p, json_mode, &dir, &meeting_id).await,
        Command::Remove {
            dir,
            meeting_id,
            who,
        } => remove(p, json_mode, &dir, &meeting_id, &who).await,
        Command::Reject {
            dir,
            meeting_id,
            initiator,
        } => reject(p, json_mode, &dir, &meeting_id, initiator.as_deref()).await,
        Command::Send { dir, user, text } => send(p, json_mode, &dir, &user, &text).await,
        _ => Err("not an online command".into()),
    }
}

async fn register(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    relay: &str,
    dir: &Path,
    username: &str,
    prekeys: usize,
    device_of: Option<std::path::PathBuf>,
) -> Result<(), Error> {
    if prekeys == 0 || prekeys > 1000 {
        return Err("--prekeys must be 1..=1000".into());
    }
    if Account::exists(dir) {
        let a = Account::load(dir)?;
        if a.relay != relay || a.username.to_lowercase() != username.to_lowercase() {
            return Err(format!(
                "{}: this identity is already registered as {} at {}",
                dir.display(),
                a.username,
                a.relay
            )
            .into());
        }
    }
    let store = IdentityStore::new(dir);
    let created = !dir.join("identity.json").exists();
    let identity = if created {
        let id = match &device_of {
            Some(other) => new_device_of(&IdentityStore::new(other).load(p.clone())?, now_ms())?,
            None => Identity::create(p.clone(), now_ms())?,
        };
        store.create(&id)?;
        id
    } else if device_of.is_some() {
        return Err(format!(
            "{}: an identity exists here already; --device-of makes a new one",
            dir.display()
        )
        .into());
    } else {
        store.load(p.clone())?
    };
    let mut session =
        Session::connect(relay, identity, Some(store.clone()), username, options()).await?;
    let reg = session.register(prekeys).await?;
    let mut account = if Account::exists(dir) {
        Account::load(dir)?
    } else {
        Account::new(relay, username, session.user_hash(), session.device_id())
    };
    account.device_id = session.device_id().to_string();
    account.save(dir)?;
    let fp = session.fingerprint();
    let what = match (reg.user_created, reg.device_created) {
        (true, _) => "new user",
        (false, true) => "new device of an existing user",
        (false, false) => "already registered; prekeys topped up",
    };
    emit(
        json_mode,
        &json!({"event": "registered", "relay": relay, "username": username,
                "user_hash": session.user_hash(), "device_id": session.device_id(),
                "user_fingerprint": fp, "user_created": reg.user_created,
                "device_created": reg.device_created, "identity_created": created,
                "pool_size": reg.pool_size}),
        &format!(
            "registered {username} at {relay} ({what})\n  user hash    {}\n  device       {}\n  fingerprint  {fp}\n  prekeys      {} on the relay",
            session.user_hash(),
            session.device_id(),
            reg.pool_size
        ),
    );
    Ok(())
}

/// Fetches and verifies the bundles of a username, and remembers the contact.
async fn bundles_of(
    o: &mut Opened,
    p: &dyn CryptoProvider,
    username: &str,
) -> Result<UserBundles, Error> {
    let hash = o.session.user_hash_of(username)?;
    let b = o
        .session
        .fetch_bundles(&hash)
        .await
        .map_err(|e| format!("{username}: {e}"))?;
    let key = b
        .user_key()
        .ok_or_else(|| format!("{username}: no registered device"))?;
    let fp = fingerprint(p, key);
    let name = username.to_lowercase();
    if let Some(known) = o.account.contacts.get(&name)
        && known.user_fingerprint != fp
    {
        return Err(format!(
            "{username}: the user key changed (was {}, now {}); refusing to continue",
            short(&known.user_fingerprint),
            short(&fp)
        )
        .into());
    }
    o.account.contacts.insert(
        name,
        Contact {
            user_hash: hash,
            user_fingerprint: fp,
        },
    );
    Ok(b)
}

async fn call(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    call_type: CallKind,
    media: &MediaArgs,
    users: &[String],
) -> Result<(), Error> {
    // Files to send are read before anyone is called.
    let srcs = sources(&media.media)?;
    let mut o = open_account(p.clone(), dir).await?;
    let mut all = Vec::with_capacity(users.len());
    for u in users {
        all.push(bundles_of(&mut o, p.as_ref(), u).await?);
    }
    o.account.save(dir)?;
    let counts: Vec<String> = users
        .iter()
        .zip(&all)
        .map(|(u, b)| format!("{u} ({})", b.devices.len()))
        .collect();
    let ct = match call_type {
        CallKind::Audio => CallType::Audio,
        CallKind::Video => CallType::Video,
    };
    let inv = o.session.call_bundles(&mut all, ct).await?;
    let mid = inv.meeting_id.to_hex();
    o.account.calls.insert(
        mid.clone(),
        CallRecord {
            created_ms: o.session.now_ms(),
            users: users.to_vec(),
            devices: inv.sent.recipients.clone(),
        },
    );
    o.account.save(dir)?;
    let mut human = format!(
        "invite sent to {} device{}: {}",
        inv.sent.recipients.len(),
        plural(inv.sent.recipients.len()),
        counts.join(", ")
    );
    if !inv.sent.skipped.is_empty() {
        human.push_str(&format!(
            "\n  not invited (no prekeys on the relay): {}",
            inv.sent.skipped.join(", ")
        ));
    }
    human.push_str(&format!("\nmeeting {mid}"));
    emit(
        json_mode,
        &json!({"event": "call", "meeting_id": mid, "container_id": inv.sent.container_id,
                "recipients": inv.sent.recipients, "skipped": inv.sent.skipped}),
        &human,
    );
    if media.media.is_empty() {
        return Ok(());
    }
    std::io::Write::flush(&mut std::io::stdout())?;
    let show = Show {
        json: json_mode,
        duration: media.duration.map(std::time::Duration::from_secs),
        out: media.out.as_deref(),
        names: names(&o.account, &inv.keys, p.as_ref()),
        dir,
    };
    let role = Role::Initiator {
        members: inv.members.clone(),
        call_type: ct,
    };
    let runner = MeetingRunner::start(o.session, inv.keys, role, meeting_options(srcs)).await?;
    crate::media::run(runner, show).await
}

/// Meeting options for the CLI: the sources; the media address may be overridden with
/// `CONCLAVE_MEDIA_ADDRESS` (e.g. to go through a proxy).
fn meeting_options(srcs: Vec<conclave_client::media::Source>) -> MeetingOptions {
    let media_address = std::env::var("CONCLAVE_MEDIA_ADDRESS")
        .ok()
        .and_then(|a| a.parse().ok());
    MeetingOptions {
        media_address,
        sources: srcs,
        ..MeetingOptions::default()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Remembers an opened invitation in the account.
pub(crate) fn remember(account: &mut Account, r: &Received, now: u64) {
    let Received::Opened(d) = r else { return };
    if let Payload::Rekey(k) = &d.opened.payload {
        // The invitation's keys follow the initiator's rekeys, so that `accept` joins in
        // the current epoch.
        if let Some(i) = account.invites.get_mut(&k.meeting_id)
            && i.initiator_device == d.sender_device
            && k.epoch > i.keys.epoch
        {
            i.keys = k.clone();
            // The switch time is the rekey's, never an invitation's (PROTOCOL §4.9).
            i.keys.switch_at_ms = None;
        }
        return;
    }
    if let Payload::Invite(k) = &d.opened.payload {
        let name = account
            .contact_by_fingerprint(&d.sender_fingerprint)
            .map(|(n, _)| n.to_string());
        account.invites.insert(
            k.meeting_id.clone(),
            InviteRecord {
                state: InviteState::Pending,
                initiator_device: d.sender_device.clone(),
                initiator_fingerprint: d.sender_fingerprint.clone(),
                initiator_username: name,
                received_ms: now,
                call_type: k.call_type,
                keys: k.clone(),
            },
        );
    }
}

async fn inbox(p: Arc<dyn CryptoProvider>, json_mode: bool, dir: &Path) -> Result<(), Error> {
    let mut o = open_account(p, dir).await?;
    let (uploaded, _) = o.session.ensure_prekeys().await?;
    let got = o.session.receive().await?;
    let now = o.session.now_ms();
    for r in &got {
        remember(&mut o.account, r, now);
    }
    o.account.save(dir)?;
    let d = dir.display().to_string();
    for r in &got {
        let (v, human) = received(&o.account, r, &d);
        emit(json_mode, &v, &human);
    }
    if got.is_empty() && !json_mode {
        println!("no new messages");
    }
    if uploaded > 0 && !json_mode {
        eprintln!("conclave: uploaded {uploaded} new prekeys");
    }
    Ok(())
}

async fn listen(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    count: Option<usize>,
) -> Result<(), Error> {
    use std::io::Write;
    let mut o = open_account(p, dir).await?;
    let d = dir.display().to_string();
    o.session.ensure_prekeys().await?;
    let mut push = o.session.push().await?;
    if !json_mode {
        println!(
            "listening as {} on {} (Ctrl-C to stop)",
            o.account.username, o.account.relay
        );
    }
    let mut shown = 0usize;
    let limit = count.unwrap_or(usize::MAX);
    // What waited while we were away, then what arrives.
    let pending = o.session.receive().await?;
    let show = |o: &mut Opened, r: &Received| -> Result<(), Error> {
        let now = o.session.now_ms();
        // Re-read first: `accept` or `reject` may have changed the file meanwhile.
        o.account = Account::load(dir)?;
        remember(&mut o.account, r, now);
        o.account.save(dir)?;
        let (v, human) = received(&o.account, r, &d);
        emit(json_mode, &v, &human);
        std::io::stdout().flush()?;
        Ok(())
    };
    for r in &pending {
        if shown >= limit {
            break;
        }
        show(&mut o, r)?;
        shown += 1;
    }
    while shown < limit {
        let Some(event) = push.next().await else {
            return Err("the relay closed the push channel".into());
        };
        match o.session.handle_push(event?).await? {
            SessionEvent::Message(r) => {
                show(&mut o, &r)?;
                shown += 1;
            }
            SessionEvent::PrekeysRefilled {
                pool_size,
                uploaded,
            } => emit(
                json_mode,
                &json!({"event": "prekeys_refilled", "uploaded": uploaded, "pool_size": pool_size}),
                &format!("[prekeys] uploaded {uploaded} new prekeys ({pool_size} on the relay)"),
            ),
            SessionEvent::MeetingEnded { meeting_id } => emit(
                json_mode,
                &json!({"event": "meeting_ended", "meeting_id": meeting_id}),
                &format!("[ended] meeting {}", short(&meeting_id)),
            ),
            SessionEvent::Member {
                meeting_id,
                device_id,
                state,
            } => {
                let state = serde_json::to_value(state)?;
                let word = state.as_str().unwrap_or("changed").to_string();
                emit(
                    json_mode,
                    &json!({"event": "member", "meeting_id": meeting_id,
                            "device_id": device_id, "state": state}),
                    &format!(
                        "[member] device {} {word} meeting {}",
                        short(&device_id),
                        short(&meeting_id)
                    ),
                )
            }
            SessionEvent::Unknown => {}
        }
        std::io::stdout().flush()?;
    }
    push.close().await;
    Ok(())
}

/// The invitation a meeting id names: the whole id, or a unique prefix of at least 8 hex
/// digits. Returns the whole id and the invitation.
fn invitation<'a>(
    account: &'a Account,
    meeting_id: &str,
) -> Result<(String, &'a InviteRecord), Error> {
    let given = meeting_id.to_lowercase();
    if let Some(i) = account.invites.get(&given) {
        return Ok((given, i));
    }
    let matches: Vec<_> = account
        .invites
        .iter()
        .filter(|(id, _)| given.len() >= 8 && id.starts_with(&given))
        .collect();
    match matches.as_slice() {
        [(id, i)] => Ok(((*id).clone(), i)),
        [] => Err(format!(
            "no invitation to meeting {meeting_id} in this account; run `conclave inbox` first"
        )
        .into()),
        _ => Err(format!("{meeting_id} names more than one invitation; give more digits").into()),
    }
}

async fn accept(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    meeting_id: &str,
    media: &MediaArgs,
) -> Result<(), Error> {
    let srcs = sources(&media.media)?;
    let mut o = open_account(p.clone(), dir).await?;
    let (mid, invite) = invitation(&o.account, meeting_id)?;
    if !media.media.is_empty() {
        let invite = invite.clone();
        return accept_with_media(p, json_mode, dir, o, &mid, &invite, media, srcs).await;
    }
    let participants = invite.keys.roster.len();
    let ticket = o.session.accept(&mid).await?;
    if let Some(i) = o.account.invites.get_mut(&mid) {
        i.state = InviteState::Accepted;
    }
    o.account.save(dir)?;
    emit(
        json_mode,
        &json!({"event": "accepted", "meeting_id": mid, "participants": participants,
                "media": {"transport": ticket.media.transport, "address": ticket.media.address,
                          "worker": ticket.media.worker},
                "session_id": ticket.session.id, "session_expires_ms": ticket.session.expires_ms}),
        &format!(
            "joined meeting {mid} ({participants} participants)\n  media  {} {} (worker {})",
            ticket.media.transport, ticket.media.address, ticket.media.worker
        ),
    );
    Ok(())
}

async fn reject(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    meeting_id: &str,
    initiator: Option<&str>,
) -> Result<(), Error> {
    let mut o = open_account(p.clone(), dir).await?;
    let (mid, invite) = invitation(&o.account, meeting_id)?;
    let invite = invite.clone();
    let name = match initiator {
        Some(n) => n.to_string(),
        None => invite
            .initiator_username
            .clone()
            .or_else(|| {
                o.account
                    .contact_by_fingerprint(&invite.initiator_fingerprint)
                    .map(|(n, _)| n.to_string())
            })
            .ok_or(
                "this account does not know who sent the invitation: pass --initiator USERNAME",
            )?,
    };
    let mut bundles = bundles_of(&mut o, p.as_ref(), &name).await?;
    let fp = o
        .account
        .contacts
        .get(&name.to_lowercase())
        .map(|c| c.user_fingerprint.clone());
    if fp.as_deref() != Some(invite.initiator_fingerprint.as_str())
        || !bundles
            .devices
            .iter()
            .any(|d| hex::encode(d.device.device_id) == invite.initiator_device)
    {
        return Err(format!("{name} is not the user who sent this invitation").into());
    }
    o.session
        .client()
        .set_member(
            &mid,
            o.session.device_id(),
            conclave_client::api::types::MemberState::Rejected,
        )
        .await?;
    let payload = Payload::Reject {
        meeting_id: mid.clone(),
    };
    let sent = o
        .session
        .send_to_bundles(&payload, std::slice::from_mut(&mut bundles))
        .await?;
    if let Some(i) = o.account.invites.get_mut(&mid) {
        i.state = InviteState::Rejected;
        i.initiator_username = Some(name.clone());
    }
    o.account.save(dir)?;
    emit(
        json_mode,
        &json!({"event": "rejected", "meeting_id": mid, "notified": sent.recipients,
                "container_id": sent.container_id}),
        &format!(
            "rejected meeting {mid}; told {name} ({} device{})",
            sent.recipients.len(),
            plural(sent.recipients.len())
        ),
    );
    Ok(())
}

async fn send(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    user: &str,
    text: &str,
) -> Result<(), Error> {
    let mut o = open_account(p.clone(), dir).await?;
    let mut bundles = bundles_of(&mut o, p.as_ref(), user).await?;
    o.account.save(dir)?;
    let payload = Payload::Text {
        text: text.to_string(),
    };
    let sent = o
        .session
        .send_to_bundles(&payload, std::slice::from_mut(&mut bundles))
        .await?;
    emit(
        json_mode,
        &json!({"event": "sent", "container_id": sent.container_id,
                "recipients": sent.recipients, "skipped": sent.skipped}),
        &format!(
            "sent to {user} ({} device{}), container {}",
            sent.recipients.len(),
            plural(sent.recipients.len()),
            sent.container_id
        ),
    );
    Ok(())
}

/// The user hash of an invitation's initiator, when this account knows it.
fn initiator_hash(account: &Account, invite: &InviteRecord) -> Option<String> {
    invite
        .initiator_username
        .as_ref()
        .and_then(|n| account.contacts.get(&n.to_lowercase()))
        .or_else(|| {
            account
                .contact_by_fingerprint(&invite.initiator_fingerprint)
                .map(|(_, c)| c)
        })
        .filter(|c| c.user_fingerprint == invite.initiator_fingerprint)
        .map(|c| c.user_hash.clone())
}

#[allow(clippy::too_many_arguments)]
async fn accept_with_media(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    mut o: Opened,
    mid: &str,
    invite: &InviteRecord,
    media: &MediaArgs,
    srcs: Vec<conclave_client::media::Source>,
) -> Result<(), Error> {
    let keys = invite.keys.to_keys()?;
    if let Some(i) = o.account.invites.get_mut(mid) {
        i.state = InviteState::Accepted;
    }
    o.account.save(dir)?;
    let show = Show {
        json: json_mode,
        duration: media.duration.map(std::time::Duration::from_secs),
        out: media.out.as_deref(),
        names: names(&o.account, &keys, p.as_ref()),
        dir,
    };
    let role = Role::Member {
        initiator_device: invite.initiator_device.clone(),
        initiator_user: initiator_hash(&o.account, invite),
    };
    let participants = keys.roster().entries().len();
    emit(
        json_mode,
        &json!({"event": "accepted", "meeting_id": mid, "participants": participants,
                "epoch": keys.epoch()}),
        &format!("joined meeting {mid} ({participants} participants)"),
    );
    let runner = MeetingRunner::start(o.session, keys, role, meeting_options(srcs)).await?;
    let result = crate::media::run(runner, show).await;
    // Left (or removed, or the meeting ended): remember it.
    if let Ok(mut account) = Account::load(dir)
        && let Some(i) = account.invites.get_mut(mid)
    {
        i.state = InviteState::Left;
        account.save(dir)?;
    }
    result
}

/// A meeting this account knows: started (a call) or invited to.
enum Known<'a> {
    Call(&'a CallRecord),
    Invite(&'a InviteRecord),
}

/// The meeting a meeting id names among this account's calls and invitations: the whole
/// id, or a unique prefix of at least 8 hex digits.
fn known_meeting<'a>(account: &'a Account, given: &str) -> Result<(String, Known<'a>), Error> {
    let given = given.to_lowercase();
    let mut found: Vec<(String, Known<'a>)> = Vec::new();
    let matches = |id: &String| *id == given || (given.len() >= 8 && id.starts_with(&given));
    for (id, c) in &account.calls {
        if matches(id) {
            found.push((id.clone(), Known::Call(c)));
        }
    }
    for (id, i) in &account.invites {
        if matches(id) {
            found.push((id.clone(), Known::Invite(i)));
        }
    }
    if let Some(pos) = found.iter().position(|(id, _)| *id == given) {
        return Ok(found.swap_remove(pos));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(
            format!("no meeting {given} in this account (neither a call nor an invitation)").into(),
        ),
        _ => Err(format!("{given} names more than one meeting; give more digits").into()),
    }
}

async fn leave(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    meeting_id: &str,
) -> Result<(), Error> {
    let mut o = open_account(p, dir).await?;
    let (mid, known) = known_meeting(&o.account, meeting_id)?;
    match known {
        Known::Call(_) => {
            o.session.client().end_meeting(&mid).await?;
            emit(
                json_mode,
                &json!({"event": "ended", "meeting_id": mid}),
                &format!("ended meeting {mid} (this account started it)"),
            );
        }
        Known::Invite(invite) => {
            let invite = invite.clone();
            let init_hash = initiator_hash(&o.account, &invite);
            let init_device =
                conclave_client::api::membership::device_from_hex(&invite.initiator_device)?;
            let sent = o
                .session
                .leave(
                    &mid,
                    invite.keys.epoch,
                    init_hash.as_deref().map(|h| (h, init_device)),
                )
                .await?;
            if let Some(i) = o.account.invites.get_mut(&mid) {
                i.state = InviteState::Left;
            }
            o.account.save(dir)?;
            let told = sent.is_some();
            emit(
                json_mode,
                &json!({"event": "left", "meeting_id": mid, "told_initiator": told}),
                &if told {
                    format!("left meeting {mid}; told the initiator")
                } else {
                    format!("left meeting {mid}; the relay tells the initiator")
                },
            );
        }
    }
    Ok(())
}

async fn remove(
    p: Arc<dyn CryptoProvider>,
    json_mode: bool,
    dir: &Path,
    meeting_id: &str,
    who: &str,
) -> Result<(), Error> {
    let o = open_account(p, dir).await?;
    let (mid, known) = known_meeting(&o.account, meeting_id)?;
    let Known::Call(call) = known else {
        return Err(format!(
            "meeting {} was not started by this account: only its initiator removes participants",
            short(&mid)
        )
        .into());
    };
    let is_device = who.len() == 32 && who.chars().all(|c| c.is_ascii_hexdigit());
    let devices: Vec<String> = if is_device {
        let d = who.to_lowercase();
        if !call.devices.contains(&d) {
            return Err(format!("device {d} was not invited to meeting {}", short(&mid)).into());
        }
        vec![d]
    } else {
        let hash = o
            .account
            .contacts
            .get(&who.to_lowercase())
            .map(|c| c.user_hash.clone())
            .map_or_else(|| o.session.user_hash_of(who), Ok)?;
        let theirs = o.session.client().list_devices(&hash).await?;
        let ds: Vec<String> = theirs
            .devices
            .into_iter()
            .map(|d| d.device_id)
            .filter(|d| call.devices.contains(d))
            .collect();
        if ds.is_empty() {
            return Err(format!("{who} has no device in meeting {}", short(&mid)).into());
        }
        ds
    };
    for d in &devices {
        o.session.remove_member(&mid, d).await?;
    }
    emit(
        json_mode,
        &json!({"event": "removed", "meeting_id": mid, "devices": devices}),
        &format!(
            "removed {who} ({} device{}) from meeting {}; a running `conclave call --media` rekeys without them",
            devices.len(),
            plural(devices.len()),
            short(&mid)
        ),
    );
    Ok(())
}
