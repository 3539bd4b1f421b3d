//! Where the master key is, as `serve` and `audit` take it: the data directory's `master.key`,
//! or a key in a PKCS#11 token. The PIN comes from `KEYWARD_PKCS11_PIN` or a file, never from a
//! flag value (which any user of the machine could read in the process list).

use std::path::PathBuf;
use std::sync::Arc;

use keyward_crypto::SecretBytes;
use keyward_hsm::Pkcs11Config;
use keyward_server::bootstrap::MasterKeySource;

/// The master key's backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MasterKeyKind {
    /// `<data-dir>/master.key` (0600), made on first start.
    File,
    /// An AES-256 key in a PKCS#11 token, made there on first start; no key file.
    Pkcs11,
}

/// Master key options.
#[derive(Clone, Debug, clap::Args)]
pub struct MasterKeyArgs {
    /// Where the master key is.
    #[arg(long, env = "KEYWARD_MASTER_KEY", value_enum, default_value = "file")]
    master_key: MasterKeyKind,
    /// The PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(
        long,
        env = "KEYWARD_PKCS11_MODULE",
        required_if_eq("master_key", "pkcs11")
    )]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token that holds the master key.
    #[arg(
        long,
        env = "KEYWARD_PKCS11_TOKEN_LABEL",
        required_if_eq("master_key", "pkcs11")
    )]
    pkcs11_token_label: Option<String>,
    /// The label of the master key in the token.
    #[arg(
        long,
        env = "KEYWARD_PKCS11_KEY_LABEL",
        default_value = "keyward-master"
    )]
    pkcs11_key_label: String,
    /// A file holding the token's user PIN (else the KEYWARD_PKCS11_PIN environment variable).
    #[arg(long, env = "KEYWARD_PKCS11_PIN_FILE")]
    pkcs11_pin_file: Option<PathBuf>,
    /// Strict mode: every root key version made from now on is a non-extractable object in the
    /// token, and wrap/unwrap run there (else root key material is sealed under the master key
    /// and opened into memory on use).
    #[arg(long, env = "KEYWARD_PKCS11_STRICT", requires = "pkcs11_module")]
    pkcs11_strict: bool,
}

impl MasterKeyArgs {
    /// The source these options name.
    pub fn source(&self) -> Result<MasterKeySource, String> {
        if self.master_key == MasterKeyKind::File {
            if self.pkcs11_strict {
                return Err("--pkcs11-strict needs --master-key pkcs11".into());
            }
            return Ok(MasterKeySource::File);
        }
        self.pkcs11()
    }

    /// The token these options name, whatever `--master-key` says (`master-key migrate --to
    /// pkcs11` moves a file-key deployment there).
    pub fn pkcs11(&self) -> Result<MasterKeySource, String> {
        let (Some(module), Some(token_label)) = (&self.pkcs11_module, &self.pkcs11_token_label)
        else {
            return Err(
                "a PKCS#11 master key needs --pkcs11-module and --pkcs11-token-label".into(),
            );
        };
        let pin = match &self.pkcs11_pin_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the PKCS#11 PIN file {}: {e}", path.display())
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
            None => std::env::var("KEYWARD_PKCS11_PIN").map_err(|_| {
                "a PKCS#11 master key needs the token's PIN: set KEYWARD_PKCS11_PIN or give \
                 --pkcs11-pin-file"
                    .to_owned()
            })?,
        };
        Ok(MasterKeySource::Pkcs11(Pkcs11Config {
            module: module.clone(),
            token_label: token_label.clone(),
            key_label: self.pkcs11_key_label.clone(),
            pin: Arc::new(SecretBytes::new(pin.into_bytes())),
            strict: self.pkcs11_strict,
        }))
    }
}
