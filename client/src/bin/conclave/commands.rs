use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use conclave_client::ClientError;
use conclave_client::container::{
    CallType, MeetingKeysJson, OpenOptions, Payload, Recipient, SealOptions, open, seal,
};
use conclave_client::identity::{Identity, IdentityStore, fingerprint, verify_bundle};
use conclave_client::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};
use conclave_crypto::{CryptoProvider, P256PublicKey};
use conclave_crypto_accel::AccelProvider;
use conclave_crypto_software::SoftwareProvider;
use conclave_wire::bundle::{DeviceBundle, MAX_BUNDLE_JSON, MAX_BUNDLE_PREKEYS};
use conclave_wire::container::Container;
use serde_json::json;

use crate::{CallKind, Cli, Command, Crypto, IdentityCommand};

type Error = Box<dyn std::error::Error>;

pub(crate) fn provider(
    c: Crypto,
    pkcs11: &crate::pkcs11::Pkcs11Args,
) -> Result<Arc<dyn CryptoProvider>, Error> {
    match c {
        Crypto::Software => Ok(Arc::new(SoftwareProvider::new())),
        Crypto::Accel => Ok(Arc::new(AccelProvider::new()?)),
        Crypto::Pkcs11 => Ok(crate::pkcs11::open(pkcs11)?),
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reads a file (or standard input for `-`) of at most `limit` bytes.
fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let r: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
    };
    r.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() > limit {
        return Err(format!("{}: larger than {limit} bytes", path.display()).into());
    }
    Ok(buf)
}

fn read_bundle(path: &Path) -> Result<DeviceBundle, Error> {
    let bytes = read_limited(path, MAX_BUNDLE_JSON)?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    DeviceBundle::from_json(&text)
        .map_err(|e| format!("{}: invalid bundle: {e}", path.display()).into())
}

fn write_output(out: Option<&Path>, bytes: &[u8]) -> Result<(), Error> {
    match out {
        Some(path) => fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()).into()),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.write_all(b"\n")?;
            Ok(())
        }
    }
}

/// Replaces a file atomically: write a sibling temporary file, then rename it over.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

fn print_json(v: &serde_json::Value) -> Result<(), Error> {
    write_output(None, serde_json::to_string_pretty(v)?.as_bytes())
}

fn describe(p: &dyn CryptoProvider, id: &Identity) -> serde_json::Value {
    json!({
        "user_fingerprint": fingerprint(p, &id.user_public_key()),
        "device_id": hex::encode(id.device_id()),
        "provider": p.name(),
        "prekeys_available": id.prekeys().len(),
    })
}

fn check_prekey_count(n: usize) -> Result<(), Error> {
    if n > MAX_BUNDLE_PREKEYS {
        return Err(format!("--prekeys must be at most {MAX_BUNDLE_PREKEYS}").into());
    }
    Ok(())
}

pub fn run(cli: Cli) -> Result<(), Error> {
    let p = provider(cli.crypto, &cli.pkcs11)?;
    match cli.command {
        Command::Identity(IdentityCommand::Create { dir, prekeys }) => {
            check_prekey_count(prekeys)?;
            let store = IdentityStore::new(&dir);
            let mut id = Identity::create(p.clone(), now_ms())?;
            id.generate_prekeys(prekeys)?;
            store.create(&id)?;
            print_json(&describe(p.as_ref(), &id))
        }
        Command::Identity(IdentityCommand::Show { dir }) => {
            let id = IdentityStore::new(&dir).load(p.clone())?;
            print_json(&describe(p.as_ref(), &id))
        }
        Command::Bundle { dir, prekeys, out } => {
            if prekeys == 0 {
                return Err("--prekeys must be at least 1".into());
            }
            check_prekey_count(prekeys)?;
            let store = IdentityStore::new(&dir);
            let mut id = store.load(p)?;
            let fresh = id.generate_prekeys(prekeys)?;
            store.save_prekeys(&id)?;
            write_output(out.as_deref(), id.bundle(fresh).to_json().as_bytes())
        }
        Command::Meeting {
            dir,
            members,
            call_type,
            properties,
        } => {
            let me = IdentityStore::new(&dir).load(p.clone())?;
            let mut entries = vec![RosterEntry {
                index: 0,
                device_id: *me.device_id(),
                user_key: me.user_public_key(),
            }];
            for (i, path) in members.iter().enumerate() {
                let b = verify_bundle(p.as_ref(), &read_bundle(path)?)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let index = u16::try_from(i + 1).map_err(|_| "too many members")?;
                entries.push(RosterEntry {
                    index,
                    device_id: b.device.device_id,
                    user_key: b.device.user_key,
                });
            }
            let meeting = MeetingId::generate(p.as_ref(), properties.as_bytes())?;
            let keys = EpochKeys::start(p.as_ref(), meeting, Roster::new(entries)?)?;
            let call_type = match call_type {
                CallKind::Audio => CallType::Audio,
                CallKind::Video => CallType::Video,
            };
            let payload = Payload::Invite(MeetingKeysJson::from_keys(&keys, call_type));
            print_json(&serde_json::to_value(&payload)?)
        }
        Command::Seal {
            dir,
            to,
            payload,
            ttl,
            out,
        } => {
            let me = IdentityStore::new(&dir).load(p.clone())?;
            let bytes = read_limited(&payload, conclave_client::container::MAX_PAYLOAD_PLAINTEXT)?;
            let payload =
                Payload::from_bytes(&bytes).map_err(|e| format!("{}: {e}", payload.display()))?;
            let mut recipients = Vec::with_capacity(to.len());
            let mut bundles = Vec::with_capacity(to.len());
            for path in &to {
                let bundle = read_bundle(path)?;
                let mut verified = verify_bundle(p.as_ref(), &bundle)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let r = Recipient::take_from_bundle(p.as_ref(), &mut verified).map_err(|e| {
                    format!(
                        "{}: {e} (every prekey of this bundle file was used; export a new one)",
                        path.display()
                    )
                })?;
                recipients.push(r);
                bundles.push(bundle);
            }
            let container = seal(
                &me,
                &payload,
                &recipients,
                SealOptions {
                    now_ms: now_ms(),
                    ttl_seconds: ttl,
                },
            )?;
            fs::write(&out, container).map_err(|e| format!("{}: {e}", out.display()))?;
            // A bundle file is a prekey pool, like the relay's: each used prekey is taken
            // out so that it is never used twice.
            for ((path, mut bundle), r) in to.iter().zip(bundles).zip(&recipients) {
                bundle.prekeys.retain(|k| k.id != r.prekey_id);
                write_replacing(path, bundle.to_json().as_bytes())?;
            }
            Ok(())
        }
        Command::Open {
            dir,
            expect_sender,
            container,
        } => {
            let store = IdentityStore::new(&dir);
            let mut me = store.load(p.clone())?;
            let bytes = read_limited(&container, 64 << 20)?;
            let cname = container.display();
            // The sender's user key whose fingerprint was given, if any; `open` then refuses
            // any other sender before unwrapping anything.
            let expected = match &expect_sender {
                Some(fp) => {
                    let fp = expected_fingerprint(fp)?;
                    let parsed = Container::parse(&bytes)
                        .map_err(|e| format!("{cname}: malformed input: {e}"))?;
                    let key = P256PublicKey::from_sec1(&parsed.sender.user_key)
                        .map_err(|e| format!("{cname}: {e}"))?;
                    if fingerprint(p.as_ref(), &key) != fp {
                        return Err(format!("{cname}: {}", ClientError::UntrustedSender).into());
                    }
                    Some(key)
                }
                None => None,
            };
            let opened = open(
                &mut me,
                &bytes,
                OpenOptions {
                    now_ms: now_ms(),
                    expected_sender: expected.as_ref(),
                },
            )
            .map_err(|e| format!("{cname}: {e}"))?;
            let sender_fp = fingerprint(p.as_ref(), &opened.sender.user_key);
            // The prekey's private half is deleted on disk before anything is printed.
            store.save_prekeys(&me)?;
            print_json(&json!({
                "container_id": hex::encode(opened.container_id),
                "type": opened.message_type.as_str(),
                "created_ms": opened.created_ms,
                "expires_ms": opened.expires_ms(),
                "sender": {
                    "user_fingerprint": sender_fp,
                    "device_id": hex::encode(opened.sender.device_id),
                },
                "prekey_id": opened.prekey_id,
                "payload": opened.payload,
            }))
        }
        // Online commands are dispatched by `online::run`.
        _ => Err("this command needs a relay".into()),
    }
}

/// A fingerprint given on the command line: 64 hex digits.
fn expected_fingerprint(fp: &str) -> Result<String, Error> {
    let fp = fp.trim().to_ascii_lowercase();
    if fp.len() != 64 || hex::decode(&fp).is_err() {
        return Err("--expect-sender must be a user fingerprint of 64 hex digits".into());
    }
    Ok(fp)
}
