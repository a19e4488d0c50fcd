//! The PKCS#11 module, the token and a bounded pool of logged-in sessions.
//!
//! A module is loaded and `C_Initialize`d once per process and never finalised: PKCS#11 allows
//! one initialisation per process, and every provider on the same module shares it. Login state
//! is per process and token too (PKCS#11 §5.6): the first session of a token logs in, and the
//! pool keeps at least one session open so the login lasts.
//!
//! `cryptoki::Session` is `Send` but not `Sync`: a session is checked out by one thread, used,
//! and put back. Sessions that failed because the token went away are closed instead of being
//! returned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use conclave_crypto::CryptoError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::config::Pkcs11Config;
use crate::error::{Op, is_token_gone, token_error};

/// How long a caller waits for a free session before giving up.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// A loaded and initialised module, and the lock that serialises creating and destroying
/// token objects through it.
#[derive(Clone)]
struct Module {
    pkcs11: Pkcs11,
    objects: Arc<Mutex<()>>,
}

/// Loaded and initialised modules, by canonical path.
static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();

/// Loads and initialises the module at `path`, once per process.
fn module(path: &Path) -> Result<Module, CryptoError> {
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        CryptoError::Provider(format!(
            "PKCS#11 module {} not found: {}",
            path.display(),
            e.kind()
        ))
    })?;
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut modules = modules.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = modules.get(&canonical) {
        return Ok(m.clone());
    }
    let pkcs11 = Pkcs11::new(&canonical).map_err(|e| {
        CryptoError::Provider(format!(
            "cannot load PKCS#11 module {}: {}",
            path.display(),
            match &e {
                Error::LibraryLoading(inner) => inner.to_string(),
                Error::MissingSymbol(sym) => format!("it does not export {sym}"),
                other => other.to_string(),
            }
        ))
    })?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(CryptoError::Provider(format!(
                "PKCS#11 module {} failed to initialise (C_Initialize): {}",
                path.display(),
                match e {
                    Error::Pkcs11(rv, _) => format!("{rv:?}"),
                    other => other.to_string(),
                }
            )));
        }
    }
    let module = Module {
        pkcs11,
        objects: Arc::new(Mutex::new(())),
    };
    modules.insert(canonical, module.clone());
    Ok(module)
}

/// The token a provider works with, and its session pool.
pub(crate) struct Token {
    pkcs11: Pkcs11,
    /// Shared by every provider on the same module; see [`Token::object_lock`].
    objects: Arc<Mutex<()>>,
    slot: Slot,
    label: String,
    pin: AuthPin,
    max_sessions: usize,
    pool: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Session>,
    open: usize,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .field("slot", &self.slot.id())
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// Mechanisms the provider needs, with the message when one is missing.
const REQUIRED: [(MechanismType, &str); 3] = [
    (
        MechanismType::ECC_KEY_PAIR_GEN,
        "PKCS#11 token lacks CKM_EC_KEY_PAIR_GEN (P-256 key generation)",
    ),
    (
        MechanismType::ECDH1_DERIVE,
        "PKCS#11 token lacks CKM_ECDH1_DERIVE (ECDH)",
    ),
    (
        MechanismType::ECDSA,
        "PKCS#11 token lacks CKM_ECDSA (signing)",
    ),
];

impl Token {
    /// Loads the module, finds the token by label, checks its mechanisms and logs in.
    pub(crate) fn open(config: &Pkcs11Config) -> Result<Token, CryptoError> {
        let Module { pkcs11, objects } = module(&config.module)?;
        let label = config.token_label.clone();
        let slot = find_slot(&pkcs11, &label)?;
        let mechanisms = pkcs11
            .get_mechanism_list(slot)
            .map_err(|e| token_error(Op::FindToken, &label, &e))?;
        for (mechanism, missing) in REQUIRED {
            if !mechanisms.contains(&mechanism) {
                return Err(CryptoError::Unsupported(missing));
            }
        }
        if config.hash_in_token && !mechanisms.contains(&MechanismType::ECDSA_SHA256) {
            return Err(CryptoError::Unsupported(
                "PKCS#11 token lacks CKM_ECDSA_SHA256 (hashing in the token): \
                 turn hash_in_token off to hash on the host",
            ));
        }
        if config.in_token_frames && !mechanisms.contains(&MechanismType::AES_GCM) {
            return Err(CryptoError::Unsupported(
                "PKCS#11 token lacks CKM_AES_GCM: in-token frame mode is not available",
            ));
        }
        let pin = config.pin.read()?;
        let token = Token {
            pkcs11,
            objects,
            slot,
            label,
            pin,
            max_sessions: config.max_sessions.max(1),
            pool: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        // Opens the first session and logs in: a wrong PIN fails here.
        drop(token.session()?);
        Ok(token)
    }

    /// The token's label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A logged-in session for this thread's exclusive use until the guard is dropped.
    pub(crate) fn session(&self) -> Result<PooledSession<'_>, CryptoError> {
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                return Ok(PooledSession {
                    token: self,
                    session: Some(session),
                    broken: false,
                });
            }
            if state.open < self.max_sessions {
                state.open += 1;
                drop(state);
                return match self.open_session() {
                    Ok(session) => Ok(PooledSession {
                        token: self,
                        session: Some(session),
                        broken: false,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let (next, timeout) = self
                .freed
                .wait_timeout(state, CHECKOUT_TIMEOUT)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
            if timeout.timed_out() && state.idle.is_empty() && state.open >= self.max_sessions {
                return Err(CryptoError::Provider(format!(
                    "all {} PKCS#11 sessions of token '{}' stayed busy for {} s",
                    self.max_sessions,
                    self.label,
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
        }
    }

    fn open_session(&self) -> Result<Session, CryptoError> {
        let session = self
            .pkcs11
            .open_rw_session(self.slot)
            .map_err(|e| self.classify(Op::OpenSession, &e).0)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(self.classify(Op::Login, &e).0),
        }
    }

    /// Maps an error of `op` and says whether the session it happened on is unusable.
    ///
    /// Besides the removal codes, a vanished token shows up as ObjectHandleInvalid or
    /// GeneralError (SoftHSM, when its storage is deleted): for those, ask whether the token
    /// is still there to say what happened.
    fn classify(&self, op: Op, e: &Error) -> (CryptoError, bool) {
        let Error::Pkcs11(rv, _) = e else {
            return (token_error(op, &self.label, e), false);
        };
        let gone = is_token_gone(*rv);
        let suspicious = gone
            || matches!(
                rv,
                RvError::ObjectHandleInvalid
                    | RvError::KeyHandleInvalid
                    | RvError::GeneralError
                    | RvError::FunctionFailed
            );
        if suspicious && !self.is_present() {
            return (self.gone(op, *rv), true);
        }
        (token_error(op, &self.label, e), gone)
    }

    /// Held while token objects (`CKA_TOKEN = true`) are created or destroyed, one at a time
    /// per module: SoftHSM 2.6 corrupts concurrent creations of token objects (random
    /// CKR_GENERAL_ERROR or CKR_TEMPLATE_INCONSISTENT from C_GenerateKeyPair and
    /// C_CreateObject, SoftHSMv2 issue #573). Key management is rare next to signing and ECDH,
    /// which are not serialised.
    pub(crate) fn object_lock(&self) -> MutexGuard<'_, ()> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the token is still in its slot under its label.
    pub(crate) fn is_present(&self) -> bool {
        self.pkcs11
            .get_token_info(self.slot)
            .is_ok_and(|info| info.label().trim_end() == self.label)
    }

    /// The error for an operation that failed because the token disappeared.
    pub(crate) fn gone(&self, op: Op, rv: RvError) -> CryptoError {
        CryptoError::Provider(format!(
            "PKCS#11 token '{}' is no longer present ({} failed with {rv:?}): \
             it was removed, disconnected or its storage was deleted",
            self.label,
            op.describe()
        ))
    }

    fn give_back(&self, session: Session, broken: bool) {
        let mut state = self.lock();
        if broken {
            state.open -= 1;
            drop(state);
            // Closing may fail too when the token is gone; there is nothing more to do.
            let _ = session.close();
        } else {
            state.idle.push(session);
            drop(state);
        }
        self.freed.notify_one();
    }
}

/// Finds the slot whose token has `label` (slots are renumbered when tokens are initialised,
/// so a slot number is not a stable way to name a token).
fn find_slot(pkcs11: &Pkcs11, label: &str) -> Result<Slot, CryptoError> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| token_error(Op::FindToken, label, &e))?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        let this = info.label().trim_end();
        if this == label {
            found.push(slot);
        } else if !this.is_empty() {
            seen.push(format!("'{this}'"));
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(CryptoError::Provider(format!(
            "no PKCS#11 token labelled '{label}' (tokens present: {})",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        ))),
        _ => Err(CryptoError::Provider(format!(
            "{} PKCS#11 tokens are labelled '{label}': labels must be unique",
            found.len()
        ))),
    }
}

/// A session checked out of the pool; returned (or closed if the token failed) on drop.
pub(crate) struct PooledSession<'t> {
    token: &'t Token,
    session: Option<Session>,
    broken: bool,
}

impl PooledSession<'_> {
    /// Runs `f` on the session and maps its error for `op`; marks the session broken when the
    /// token went away so that it is not reused.
    pub(crate) fn run<T>(
        &mut self,
        op: Op,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> Result<T, CryptoError> {
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| CryptoError::Provider("internal: session already returned".into()))?;
        f(session).map_err(|e| {
            let (error, broken) = self.token.classify(op, &e);
            self.broken |= broken;
            error
        })
    }

    /// Like [`Token::gone`] when the token has disappeared, `None` otherwise.
    pub(crate) fn check_present(&mut self, op: Op) -> Option<CryptoError> {
        if self.token.is_present() {
            None
        } else {
            self.broken = true;
            Some(self.token.gone(op, RvError::TokenNotPresent))
        }
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.token.give_back(session, self.broken);
        }
    }
}
