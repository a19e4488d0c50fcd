//! An identity kept in a directory:
//!
//! - `identity.json` — the certificate and the persisted user, app and device keys;
//! - `prekeys.json` — the unused prekeys (public, signature, persisted private half) and
//!   the ids already consumed.
//!
//! The directory is created 0700 and the files 0600; loading refuses files that group or
//! others can read. Files are replaced atomically (write, fsync, rename). A key is written
//! as raw bytes only when its provider exports it; HSM keys are stored as references.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use conclave_crypto::{CryptoProvider, KeyUsage, PersistedKey, Secret};
use conclave_wire::b64;
use conclave_wire::bundle::SignedPrekey;
use conclave_wire::container::DeviceCertificate;
use serde::{Deserialize, Serialize};

use super::{Identity, PrekeyPool};
use crate::{ClientError, Result};

const STORE_VERSION: u32 = 1;
const IDENTITY_FILE: &str = "identity.json";
const PREKEYS_FILE: &str = "prekeys.json";
/// Identity files are small; anything larger is not one.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    version: u32,
    provider: String,
    #[serde(with = "b64::serde_bytes")]
    certificate: Vec<u8>,
    user_key: KeyJson,
    app_key: KeyJson,
    device_key: KeyJson,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrekeysFile {
    version: u32,
    next_id: u32,
    prekeys: Vec<PrekeyJson>,
    consumed: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrekeyJson {
    id: u32,
    #[serde(with = "b64::serde_array")]
    public_key: [u8; 65],
    #[serde(with = "b64::serde_array")]
    signature: [u8; 64],
    key: KeyJson,
}

/// Secret bytes as base64, zeroized on drop.
#[derive(Default)]
struct SecretB64(zeroize::Zeroizing<Vec<u8>>);

impl Serialize for SecretB64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let text = zeroize::Zeroizing::new(b64::encode(&self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretB64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        b64::decode(&text)
            .map(|v| SecretB64(zeroize::Zeroizing::new(v)))
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum KeyJson {
    Raw {
        usage: UsageJson,
        scalar: SecretB64,
    },
    Reference {
        provider: String,
        usage: UsageJson,
        #[serde(with = "b64::serde_bytes")]
        reference: Vec<u8>,
    },
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum UsageJson {
    Signing,
    KeyAgreement,
}

impl From<KeyUsage> for UsageJson {
    fn from(u: KeyUsage) -> Self {
        match u {
            KeyUsage::Signing => UsageJson::Signing,
            KeyUsage::KeyAgreement => UsageJson::KeyAgreement,
        }
    }
}

impl From<UsageJson> for KeyUsage {
    fn from(u: UsageJson) -> Self {
        match u {
            UsageJson::Signing => KeyUsage::Signing,
            UsageJson::KeyAgreement => KeyUsage::KeyAgreement,
        }
    }
}

impl KeyJson {
    fn from_persisted(k: PersistedKey) -> Self {
        match k {
            PersistedKey::Raw { usage, scalar } => KeyJson::Raw {
                usage: usage.into(),
                scalar: SecretB64(zeroize::Zeroizing::new(scalar.expose().to_vec())),
            },
            PersistedKey::Reference {
                provider,
                usage,
                reference,
            } => KeyJson::Reference {
                provider,
                usage: usage.into(),
                reference,
            },
        }
    }

    fn into_persisted(self) -> PersistedKey {
        match self {
            KeyJson::Raw { usage, mut scalar } => PersistedKey::Raw {
                usage: usage.into(),
                scalar: Secret::new(std::mem::take(&mut *scalar.0)),
            },
            KeyJson::Reference {
                provider,
                usage,
                reference,
            } => PersistedKey::Reference {
                provider,
                usage: usage.into(),
                reference,
            },
        }
    }
}

/// A directory holding one identity.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    dir: PathBuf,
}

impl IdentityStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        IdentityStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(path: &Path, problem: impl Into<String>) -> ClientError {
        ClientError::Store {
            path: path.display().to_string(),
            problem: problem.into(),
        }
    }

    /// Saves a new identity; refuses to overwrite an existing one.
    pub fn create(&self, identity: &Identity) -> Result<()> {
        let file = self.dir.join(IDENTITY_FILE);
        if file.exists() {
            return Err(Self::err(&file, "an identity already exists here"));
        }
        fs::create_dir_all(&self.dir).map_err(|e| Self::err(&self.dir, e.to_string()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Self::err(&self.dir, e.to_string()))?;
        let p = identity.provider.as_ref();
        let doc = IdentityFile {
            version: STORE_VERSION,
            provider: p.name().to_string(),
            certificate: identity.certificate.to_bytes(),
            user_key: KeyJson::from_persisted(identity.user_key.persist()?),
            app_key: KeyJson::from_persisted(identity.app_key.persist()?),
            device_key: KeyJson::from_persisted(identity.device_key.persist()?),
        };
        self.write_json(&file, &doc)?;
        self.save_prekeys(identity)
    }

    /// Rewrites `prekeys.json` from the identity's pool (after generating or consuming).
    pub fn save_prekeys(&self, identity: &Identity) -> Result<()> {
        let pool = &identity.prekeys;
        let mut prekeys = Vec::with_capacity(pool.keys.len());
        for (public, key) in pool.keys.values() {
            prekeys.push(PrekeyJson {
                id: public.id,
                public_key: public.public_key,
                signature: public.signature,
                key: KeyJson::from_persisted(key.persist()?),
            });
        }
        let doc = PrekeysFile {
            version: STORE_VERSION,
            next_id: pool.next_id,
            prekeys,
            consumed: pool.consumed.iter().copied().collect(),
        };
        self.write_json(&self.dir.join(PREKEYS_FILE), &doc)
    }

    fn write_json<T: Serialize>(&self, path: &Path, doc: &T) -> Result<()> {
        let text = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(doc).map_err(|e| Self::err(path, e.to_string()))?,
        );
        // A fresh name opened with O_CREAT|O_EXCL: never an existing file or a symlink
        // planted by someone else, and created 0600 before a byte is written.
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
            fs::rename(&tmp, path)?;
            fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Self::err(path, e.to_string())
        })
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let path = self.dir.join(name);
        let meta = fs::metadata(&path).map_err(|e| Self::err(&path, e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Self::err(
                &path,
                format!("permissions {mode:04o} are too open (expected 0600)"),
            ));
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(Self::err(&path, "file is too large to be an identity file"));
        }
        let text =
            zeroize::Zeroizing::new(fs::read(&path).map_err(|e| Self::err(&path, e.to_string()))?);
        serde_json::from_slice(&text).map_err(|e| {
            // Only the kind and position of the problem: serde_json's own message may quote
            // the offending value, which can be key material.
            let kind = match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Data => "unexpected structure or value",
                serde_json::error::Category::Eof => "truncated",
            };
            Self::err(
                &path,
                format!(
                    "corrupt identity file: {kind} at line {} column {}",
                    e.line(),
                    e.column()
                ),
            )
        })
    }

    /// Loads the identity with `provider`, which must be the one that created it.
    pub fn load(&self, provider: Arc<dyn CryptoProvider>) -> Result<Identity> {
        let ipath = self.dir.join(IDENTITY_FILE);
        let doc: IdentityFile = self.read_json(IDENTITY_FILE)?;
        let corrupt = |what: &str| Self::err(&ipath, format!("corrupt identity file: {what}"));
        if doc.version != STORE_VERSION {
            return Err(Self::err(
                &ipath,
                format!("unsupported version {}", doc.version),
            ));
        }
        if doc.provider != provider.name() {
            return Err(Self::err(
                &ipath,
                format!(
                    "identity belongs to crypto provider '{}', not '{}'",
                    doc.provider,
                    provider.name()
                ),
            ));
        }
        let certificate =
            DeviceCertificate::parse(&doc.certificate).map_err(|e| corrupt(&e.to_string()))?;
        let restore = |k: KeyJson, usage: KeyUsage, what: &str| {
            let persisted = k.into_persisted();
            if persisted.usage() != usage {
                return Err(corrupt(&format!("{what} has the wrong usage")));
            }
            provider
                .restore_p256(&persisted)
                .map_err(|e| corrupt(&format!("{what}: {e}")))
        };
        let IdentityFile {
            user_key,
            app_key,
            device_key,
            ..
        } = doc;
        let user_key = restore(user_key, KeyUsage::Signing, "user key")?;
        let app_key = restore(app_key, KeyUsage::Signing, "app key")?;
        let device_key = restore(device_key, KeyUsage::KeyAgreement, "device key")?;
        if user_key.public_key().as_bytes() != &certificate.user_key
            || app_key.public_key().as_bytes() != &certificate.app_key
            || device_key.public_key().as_bytes() != &certificate.device_key
        {
            return Err(corrupt("keys do not match the certificate"));
        }
        let ppath = self.dir.join(PREKEYS_FILE);
        let pdoc: PrekeysFile = self.read_json(PREKEYS_FILE)?;
        let pcorrupt = |what: &str| Self::err(&ppath, format!("corrupt identity file: {what}"));
        if pdoc.version != STORE_VERSION {
            return Err(Self::err(
                &ppath,
                format!("unsupported version {}", pdoc.version),
            ));
        }
        let mut keys = BTreeMap::new();
        for entry in pdoc.prekeys {
            let PrekeyJson {
                id,
                public_key,
                signature,
                key,
            } = entry;
            let public = SignedPrekey {
                id,
                public_key,
                signature,
            };
            if id >= pdoc.next_id || pdoc.consumed.contains(&id) {
                return Err(pcorrupt(&format!("prekey {id} is out of place")));
            }
            let key = provider
                .restore_p256(&key.into_persisted())
                .map_err(|e| pcorrupt(&format!("prekey {id}: {e}")))?;
            if key.public_key().as_bytes() != &public.public_key {
                return Err(pcorrupt(&format!(
                    "prekey {id} does not match its public key"
                )));
            }
            if keys.insert(id, (public, key)).is_some() {
                return Err(pcorrupt(&format!("prekey {id} appears twice")));
            }
        }
        let consumed: BTreeSet<u32> = pdoc.consumed.into_iter().collect();
        Ok(Identity {
            provider,
            user_key,
            app_key,
            device_key,
            certificate,
            prekeys: PrekeyPool {
                next_id: pdoc.next_id,
                keys,
                consumed,
            },
        })
    }
}
