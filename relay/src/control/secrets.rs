//! The relay's own secrets, made on first start and kept in the data directory (0600):
//! the username salt clients hash usernames with, and the key that derives media session
//! keys in join tickets.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use conclave_wire::b64;
use serde::{Deserialize, Serialize};

const FILE: &str = "relay-secrets.json";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    username_salt: String,
    ticket_secret: String,
}

/// The relay's secrets.
#[derive(Clone)]
pub struct Secrets {
    pub username_salt: [u8; 32],
    pub ticket_secret: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(redacted)")
    }
}

fn random32() -> Result<[u8; 32], String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("random number generator: {e}"))?;
    Ok(b)
}

impl Secrets {
    /// Loads the secrets from `data_dir`, creating them (and the directory, 0700) on first
    /// start. Errors are one line naming the file.
    pub fn load_or_create(data_dir: &Path) -> Result<Secrets, String> {
        let path = data_dir.join(FILE);
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        if path.exists() {
            let mode = fs::metadata(&path)
                .map_err(|e| err(&e))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(&format!(
                    "permissions {mode:04o} are too open (expected 0600)"
                )));
            }
            let text = fs::read_to_string(&path).map_err(|e| err(&e))?;
            let doc: SecretsFile =
                serde_json::from_str(&text).map_err(|_| err(&"corrupt secrets file"))?;
            let decode = |s: &str| {
                b64::decode_array::<32>(s, "secret").map_err(|_| err(&"corrupt secrets file"))
            };
            return Ok(Secrets {
                username_salt: decode(&doc.username_salt)?,
                ticket_secret: decode(&doc.ticket_secret)?,
            });
        }
        fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let _ = fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700));
        let secrets = Secrets {
            username_salt: random32()?,
            ticket_secret: random32()?,
        };
        let doc = SecretsFile {
            username_salt: b64::encode(&secrets.username_salt),
            ticket_secret: b64::encode(&secrets.ticket_secret),
        };
        let text = serde_json::to_vec_pretty(&doc).map_err(|e| err(&e))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| err(&e))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| err(&e))?;
        Ok(secrets)
    }
}
