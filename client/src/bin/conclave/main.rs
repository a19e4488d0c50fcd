//! `conclave`: the Conclave client command line. The online subcommands (`register`,
//! `call`, `inbox`, `listen`, `accept`, `reject`, `leave`, `remove`, `send`) use a relay; the offline ones
//! create identities, export public bundles, and seal and open containers, for
//! development, debugging and interoperability checks.

mod commands;
mod display;
mod media;
mod online;
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
    /// Machine-readable output of the online commands: one JSON object per line.
    #[arg(long, global = true)]
    json: bool,
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
    /// Register with a relay: creates the identity if missing, registers the user (by
    /// salted username hash), this device and its prekeys, and remembers the account in
    /// DIR/account.json. With the development relay the credential is derived from the
    /// identity; set CONCLAVE_TOKEN to use a token instead.
    Register {
        /// The relay's base URL, e.g. http://127.0.0.1:8443.
        #[arg(long)]
        relay: String,
        /// Identity directory (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Your username (only its salted hash is sent).
        #[arg(long)]
        username: String,
        /// Prekeys to upload (1..=1000).
        #[arg(long, default_value_t = 100)]
        prekeys: usize,
        /// Make this a further device of the user whose identity is in this directory
        /// (same user key); only when DIR has no identity yet.
        #[arg(long, value_name = "OTHER_DIR")]
        device_of: Option<PathBuf>,
    },
    /// Call users: a new meeting, one invite sealed to every device of every user, posted
    /// through the relay. Prints the meeting id. With --media, stays in the meeting: joins
    /// its media plane, sends end-to-end encrypted media, prints a per-participant summary
    /// every second, and rekeys when a participant leaves, declines or is removed.
    Call {
        /// Identity directory of a registered account.
        #[arg(long)]
        dir: PathBuf,
        /// Call type of the invite.
        #[arg(long, value_enum, default_value_t = CallKind::Video)]
        call_type: CallKind,
        #[command(flatten)]
        media: MediaArgs,
        /// Usernames to call.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
    /// Fetch waiting messages: verify, open, show and acknowledge each; invitations are
    /// remembered so that they can be accepted or rejected.
    Inbox {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stay connected and show each message as it arrives (opened and verified); refills
    /// prekeys when the relay says the pool is low. Runs until interrupted.
    Listen {
        #[arg(long)]
        dir: PathBuf,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Accept an invitation: join the meeting (prints where its media is served). With
    /// --media, stays in the meeting: sends and receives end-to-end encrypted media, prints
    /// a per-participant summary every second, and follows the initiator's rekeys.
    Accept {
        #[arg(long)]
        dir: PathBuf,
        /// The meeting id of an invitation in `conclave inbox` (64 hex digits, or a unique
        /// prefix of at least 8).
        meeting_id: String,
        #[command(flatten)]
        media: MediaArgs,
    },
    /// Leave a meeting: records it with the relay (which closes this device's media
    /// session) and tells the initiator, which rekeys the others without this device. For
    /// a meeting this account started, ends it for everyone.
    Leave {
        #[arg(long)]
        dir: PathBuf,
        /// The meeting id (64 hex digits, or a unique prefix of at least 8).
        meeting_id: String,
    },
    /// Remove a participant from a meeting this account started: records it with the relay
    /// (which closes its media session and refuses its tickets); the running `conclave
    /// call --media` rekeys the others without it.
    Remove {
        #[arg(long)]
        dir: PathBuf,
        /// The meeting id (64 hex digits, or a unique prefix of at least 8).
        meeting_id: String,
        /// A username (every device of that user in the meeting) or a device id (32 hex
        /// digits).
        #[arg(value_name = "USER|DEVICE")]
        who: String,
    },
    /// Reject an invitation: record it with the relay and tell the inviter's devices.
    Reject {
        #[arg(long)]
        dir: PathBuf,
        /// The meeting id of an invitation in `conclave inbox` (64 hex digits, or a unique
        /// prefix of at least 8).
        meeting_id: String,
        /// The inviter's username, when this account has not met them yet.
        #[arg(long, value_name = "USER")]
        initiator: Option<String>,
    },
    /// Send a text message to every device of a user.
    Send {
        #[arg(long)]
        dir: PathBuf,
        /// The recipient's username.
        user: String,
        /// The text.
        text: String,
    },
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

/// Media options of `call` and `accept`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct MediaArgs {
    /// Stay in the meeting and send media: `audio`, `video` (synthetic audio and simulcast
    /// video), `file:PATH` (the file's bytes as a carousel), `vp8:FILE.ivf` / `opus:FILE.ogg`
    /// (real VP8 / Opus frames in a loop, which browsers in the meeting decode); repeatable.
    #[arg(long, value_name = "audio|video|file:PATH|vp8:IVF|opus:OGG")]
    pub(crate) media: Vec<media::MediaKind>,
    /// With --media: leave after this many seconds (default: stay until Ctrl-C or the end
    /// of the meeting).
    #[arg(long, value_name = "SECS", requires = "media")]
    pub(crate) duration: Option<u64>,
    /// With --media: write the files received in the meeting to this directory.
    #[arg(long, value_name = "DIR", requires = "media")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CallKind {
    Audio,
    Video,
}

/// Parses the command line; a usage error is one line (clap's own is several), help and
/// version are printed as usual.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return Err(ExitCode::from(if e.use_stderr() { 2 } else { 0 }));
            }
            let rendered = e.render().to_string();
            let mut parts = rendered
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
                .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string());
            let mut msg = parts.next().unwrap_or_else(|| "invalid arguments".into());
            // Missing arguments are listed on the following lines.
            let rest: Vec<String> = parts.filter(|l| !l.starts_with("tip:")).collect();
            if !rest.is_empty() {
                msg = format!("{msg} {}", rest.join(", "));
            }
            eprintln!("conclave: error: {msg} (see conclave --help)");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = if online::is_online(&cli.command) {
        online::run(cli)
    } else {
        commands::run(cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem.
            let msg = e.to_string().replace('\n', " ");
            eprintln!("conclave: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
