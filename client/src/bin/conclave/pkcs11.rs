//! `--crypto pkcs11`: the options that reach a PKCS#11 token, and opening the provider.
//!
//! The PIN is never an option value (command lines are visible to every user of the machine):
//! it is read from an environment variable or a file named by an option.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use conclave_crypto::CryptoProvider;
use conclave_crypto_pkcs11::{PinSource, Pkcs11Config, Pkcs11Provider};

/// PKCS#11 provider options (used with `--crypto pkcs11`).
#[derive(Args, Debug, Default)]
pub struct Pkcs11Args {
    /// PKCS#11 module of the token's vendor (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_PKCS11_MODULE",
        value_name = "PATH"
    )]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the token holding the keys.
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_PKCS11_TOKEN",
        value_name = "LABEL"
    )]
    pub pkcs11_token: Option<String>,
    /// Name of the environment variable holding the user PIN.
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_PKCS11_PIN_ENV",
        value_name = "VAR"
    )]
    pub pkcs11_pin_env: Option<String>,
    /// File whose first line is the user PIN.
    #[arg(
        long,
        global = true,
        env = "CONCLAVE_PKCS11_PIN_FILE",
        value_name = "PATH"
    )]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Seal and open AEAD data inside the token (CKM_AES_GCM) instead of in software.
    #[arg(long, global = true, env = "CONCLAVE_PKCS11_IN_TOKEN_FRAMES")]
    pub pkcs11_in_token_frames: bool,
}

/// Opens the provider described by `args`.
pub fn open(args: &Pkcs11Args) -> Result<Arc<dyn CryptoProvider>, String> {
    let module = args.pkcs11_module.clone().ok_or(
        "--crypto pkcs11 needs --pkcs11-module PATH (or CONCLAVE_PKCS11_MODULE)".to_string(),
    )?;
    let token = args.pkcs11_token.clone().ok_or(
        "--crypto pkcs11 needs --pkcs11-token LABEL (or CONCLAVE_PKCS11_TOKEN)".to_string(),
    )?;
    let pin = match (&args.pkcs11_pin_env, &args.pkcs11_pin_file) {
        (Some(var), None) => PinSource::Env(var.clone()),
        (None, Some(path)) => PinSource::File(path.clone()),
        (Some(_), Some(_)) => {
            return Err("give either --pkcs11-pin-env or --pkcs11-pin-file, not both".into());
        }
        (None, None) => {
            return Err(
                "--crypto pkcs11 needs --pkcs11-pin-env VAR or --pkcs11-pin-file PATH \
                 (or CONCLAVE_PKCS11_PIN_ENV / CONCLAVE_PKCS11_PIN_FILE)"
                    .into(),
            );
        }
    };
    let config =
        Pkcs11Config::new(module, token, pin).with_in_token_frames(args.pkcs11_in_token_frames);
    Pkcs11Provider::open(&config)
        .map(|p| Arc::new(p) as Arc<dyn CryptoProvider>)
        .map_err(|e| e.to_string())
}
