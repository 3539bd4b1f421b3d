//! A logged-in PKCS#11 token: the module loaded once per process, the slot whose token carries
//! the configured label, and a few sessions that callers take turns on (a session serves one
//! operation at a time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::error::HsmError;
use crate::pkcs11_master_key::Pkcs11Config;

/// The module at `path`, loaded and initialised once per process: a module is initialised
/// once, not once per key, and never by two threads at the same time.
fn loaded(path: &Path) -> Result<Pkcs11, HsmError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(pkcs11) = modules.get(path) {
        return Ok(pkcs11.clone());
    }
    let module = |source| HsmError::Module {
        module: path.to_owned(),
        source,
    };
    let pkcs11 = Pkcs11::new(path).map_err(module)?;
    // Another part of this process may have initialised the module through another path.
    tolerate(
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)),
        RvError::CryptokiAlreadyInitialized,
    )
    .map_err(module)?;
    modules.insert(path.to_owned(), pkcs11.clone());
    Ok(pkcs11)
}

fn tolerate(result: Result<(), CkError>, harmless: RvError) -> Result<(), CkError> {
    match result {
        Err(CkError::Pkcs11(rv, _)) if rv == harmless => Ok(()),
        other => other,
    }
}

/// Sessions on one token, logged in as its user.
pub(crate) struct Token {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
}

impl Token {
    /// Opens `sessions` read-write sessions (at least one) on the token `config` names and
    /// logs in (the login holds for every session of this process).
    pub fn open(config: &Pkcs11Config, sessions: usize) -> Result<Self, HsmError> {
        let pkcs11 = loaded(&config.module)?;
        let mut slot = None;
        for candidate in pkcs11.get_slots_with_token()? {
            if pkcs11.get_token_info(candidate)?.label().trim_end() == config.token_label {
                slot = Some(candidate);
                break;
            }
        }
        let slot = slot.ok_or_else(|| HsmError::NoToken(config.token_label.clone()))?;
        let login = |source| HsmError::Login {
            token: config.token_label.clone(),
            source,
        };
        let opened = (0..sessions.max(1))
            .map(|_| pkcs11.open_rw_session(slot).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(login)?;
        let pin = std::str::from_utf8(config.pin.expose_secret())
            .map_err(|_| HsmError::Unusable {
                label: config.key_label.clone(),
                reason: "the PIN is not UTF-8",
            })?
            .to_owned();
        let first = opened[0].lock().unwrap_or_else(|p| p.into_inner());
        tolerate(
            first.login(UserType::User, Some(&AuthPin::new(pin.into()))),
            RvError::UserAlreadyLoggedIn,
        )
        .map_err(login)?;
        drop(first);
        Ok(Self {
            sessions: opened,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a session: a free one if there is one, else waits for the next in turn.
    pub fn with<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        for i in 0..n {
            if let Ok(session) = self.sessions[(start + i) % n].try_lock() {
                return f(&session);
            }
        }
        let session = self.sessions[start % n]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&session)
    }
}
