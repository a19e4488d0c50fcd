//! `account.json`: what an identity directory remembers about its relay account — the
//! relay URL, the username and its hash, the registered device, contacts met, invitations
//! received and calls made. A separate file (0600, replaced atomically), so the identity
//! store's format (docs/PROTOCOL.md §7) is unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{SdkError, SdkResult};
use crate::container::{CallType, MeetingKeysJson};

/// The file name inside the identity directory.
pub const ACCOUNT_FILE: &str = "account.json";
const ACCOUNT_VERSION: u32 = 1;
/// Largest account file read.
const MAX_ACCOUNT_LEN: u64 = 16 * 1024 * 1024;

/// A relay account of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub version: u32,
    /// The relay's base URL.
    pub relay: String,
    /// The username as typed at registration (never sent to the relay).
    pub username: String,
    /// The user hash the relay knows the user by.
    pub user_hash: String,
    /// This device's id (32 hex digits).
    pub device_id: String,
    /// Users this account has looked up, by lowercase username.
    #[serde(default)]
    pub contacts: BTreeMap<String, Contact>,
    /// Invitations received, by meeting id.
    #[serde(default)]
    pub invites: BTreeMap<String, InviteRecord>,
    /// Calls this device started, by meeting id.
    #[serde(default)]
    pub calls: BTreeMap<String, CallRecord>,
}

/// A user this account has fetched bundles of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub user_hash: String,
    /// Fingerprint of the user key their devices carry (docs/PROTOCOL.md §2.5).
    pub user_fingerprint: String,
}

/// What became of an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    Pending,
    Accepted,
    Rejected,
    /// Accepted, then left.
    Left,
}

/// An invitation received and opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRecord {
    pub state: InviteState,
    /// The inviting device.
    pub initiator_device: String,
    /// Fingerprint of the inviter's user key.
    pub initiator_fingerprint: String,
    /// The inviter's username, when it is one of the contacts.
    #[serde(default)]
    pub initiator_username: Option<String>,
    pub received_ms: u64,
    pub call_type: CallType,
    /// The meeting keys of the invitation (secret; the file is 0600).
    pub keys: MeetingKeysJson,
}

/// A call this device started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    pub created_ms: u64,
    /// Usernames invited.
    pub users: Vec<String>,
    /// Devices the invitation was sealed to.
    pub devices: Vec<String>,
}

impl Account {
    /// A new account record.
    pub fn new(relay: &str, username: &str, user_hash: &str, device_id: &str) -> Self {
        Account {
            version: ACCOUNT_VERSION,
            relay: relay.to_string(),
            username: username.to_string(),
            user_hash: user_hash.to_string(),
            device_id: device_id.to_string(),
            contacts: BTreeMap::new(),
            invites: BTreeMap::new(),
            calls: BTreeMap::new(),
        }
    }

    /// The path of the account file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(ACCOUNT_FILE)
    }

    /// Does `dir` hold an account file?
    pub fn exists(dir: &Path) -> bool {
        Self::path(dir).exists()
    }

    fn err(path: &Path, problem: impl Into<String>) -> SdkError {
        SdkError::Account {
            path: path.display().to_string(),
            problem: problem.into(),
        }
    }

    /// Loads `dir/account.json`; refuses files group or others can access.
    pub fn load(dir: &Path) -> SdkResult<Self> {
        let path = Self::path(dir);
        let meta = fs::metadata(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Self::err(
                    &path,
                    "no account here; run `conclave register` for this directory first",
                )
            } else {
                Self::err(&path, e.to_string())
            }
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Self::err(
                &path,
                format!("permissions {mode:04o} are too open (expected 0600)"),
            ));
        }
        if meta.len() > MAX_ACCOUNT_LEN {
            return Err(Self::err(&path, "file is too large to be an account file"));
        }
        let bytes = fs::read(&path).map_err(|e| Self::err(&path, e.to_string()))?;
        let account: Account = serde_json::from_slice(&bytes).map_err(|e| {
            Self::err(
                &path,
                format!(
                    "corrupt account file at line {} column {}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if account.version != ACCOUNT_VERSION {
            return Err(Self::err(
                &path,
                format!("unsupported version {}", account.version),
            ));
        }
        Ok(account)
    }

    /// Writes `dir/account.json` atomically (fresh 0600 file, fsync, rename, fsync dir).
    pub fn save(&self, dir: &Path) -> SdkResult<()> {
        let path = Self::path(dir);
        let text = serde_json::to_vec_pretty(self).map_err(|e| Self::err(&path, e.to_string()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = path.with_extension(format!("json.{}.{nanos:09}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Self::err(&path, e.to_string())
        })
    }

    /// The contact whose user key has this fingerprint, if any: `(username, contact)`.
    pub fn contact_by_fingerprint(&self, fingerprint: &str) -> Option<(&str, &Contact)> {
        self.contacts
            .iter()
            .find(|(_, c)| c.user_fingerprint == fingerprint)
            .map(|(n, c)| (n.as_str(), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_permissions_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Account::new("http://127.0.0.1:1", "Alice", &"a".repeat(64), "00");
        a.contacts.insert(
            "bob".into(),
            Contact {
                user_hash: "b".repeat(64),
                user_fingerprint: "f".repeat(64),
            },
        );
        a.save(dir.path()).unwrap();
        let mode = fs::metadata(Account::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Account::load(dir.path()).unwrap(), a);
        assert_eq!(
            a.contact_by_fingerprint(&"f".repeat(64)).map(|c| c.0),
            Some("bob")
        );
        fs::set_permissions(Account::path(dir.path()), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Account::load(dir.path()).is_err());
        fs::set_permissions(Account::path(dir.path()), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(Account::path(dir.path()), b"{").unwrap();
        let e = Account::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(
            Account::load(empty.path())
                .unwrap_err()
                .to_string()
                .contains("conclave register")
        );
    }
}
