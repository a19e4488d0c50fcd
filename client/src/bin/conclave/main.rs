//! `conclave`: the Conclave client command line. The offline subcommands create
//! identities, export public bundles, and seal and open containers, for development,
//! debugging and interoperability checks.

mod commands;
mod pkcs11;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "conclave",
    version,
    about = "Conclave end-to-end encrypted conferencing client"
)]
struct Cli {
    /// Crypto provider that holds the keys and runs every operation.
    #[arg(long, global = true, value_enum, default_value_t = Crypto::Software)]
    crypto: Crypto,
    #[command(flatten)]
    pkcs11: pkcs11::Pkcs11Args,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Crypto {
    /// Pure-Rust RustCrypto provider; keys are stored in the identity directory (0600).
    Software,
    /// PKCS#11 token (HSM): private keys are generated in the token and never leave it;
    /// the identity directory holds references. Needs the --pkcs11-* options.
    Pkcs11,
    /// Hardware crypto instructions (AES-NI/VAES/AVX-512, SHA) through aws-lc-rs, with a
    /// start-up self-test; keys are stored in the identity directory like `software`.
    Accel,
}

#[derive(Subcommand)]
enum Command {
    /// Create or inspect an identity (user key, app key, device key, prekeys).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Generate new signed one-time prekeys and print the public bundle as JSON.
    Bundle {
        /// Identity directory.
        #[arg(long)]
        dir: PathBuf,
        /// Number of new prekeys to generate and include (1..=1000).
        #[arg(long, default_value_t = 10)]
        prekeys: usize,
        /// Write the bundle here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print an invite payload for a new meeting with the given members (JSON).
    Meeting {
        /// The initiator's identity directory (sender index 0).
        #[arg(long)]
        dir: PathBuf,
        /// A member's bundle file (repeatable); members get indexes 1, 2, ... in order.
        #[arg(long = "member", required = true)]
        members: Vec<PathBuf>,
        /// Call type of the invite.
        #[arg(long, value_enum, default_value_t = CallKind::Video)]
        call_type: CallKind,
        /// Call properties mixed into the meeting id (any text, e.g. a JSON object).
        #[arg(long, default_value = "")]
        properties: String,
    },
    /// Seal a container from a JSON payload to one or more bundles. The prekey used for
    /// each recipient is removed from its bundle file, so that it is never used twice.
    Seal {
        /// The sender's identity directory.
        #[arg(long)]
        dir: PathBuf,
        /// A recipient's bundle file (repeatable).
        #[arg(long = "to", required = true)]
        to: Vec<PathBuf>,
        /// The payload JSON file (`-` for standard input).
        #[arg(long)]
        payload: PathBuf,
        /// Time to live in seconds (at most 30 days).
        #[arg(long, default_value_t = conclave_client::container::DEFAULT_TTL_SECONDS)]
        ttl: u32,
        /// Where to write the binary container.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify and open a container; prints the verified payload as JSON.
    Open {
        /// The recipient's identity directory.
        #[arg(long)]
        dir: PathBuf,
        /// Refuse the container unless the sender's user key has this fingerprint.
        #[arg(long)]
        expect_sender: Option<String>,
        /// The container file.
        container: PathBuf,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Create a new identity in an empty directory.
    Create {
        #[arg(long)]
        dir: PathBuf,
        /// Prekeys to generate right away.
        #[arg(long, default_value_t = 0)]
        prekeys: usize,
    },
    /// Show an identity's public facts as JSON.
    Show {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CallKind {
    Audio,
    Video,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem.
            let msg = e.to_string().replace('\n', " ");
            eprintln!("conclave: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
