//! `conclave-relay`: the Conclave relay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use conclave_relay::config::RelayConfig;
use conclave_relay::{check, plugins};

#[derive(Parser)]
#[command(
    name = "conclave-relay",
    version,
    about = "The Conclave end-to-end encrypted conferencing relay"
)]
struct Cli {
    /// The relay configuration (TOML). Without it, the development relay: loopback only,
    /// development auth, embedded SQLite under ./conclave-data.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen on this address instead of the configured one.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Bind the media workers here instead of the configured `media.bind` (port 0: any
    /// free ports, announced in join tickets).
    #[arg(long)]
    media_bind: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Plugin tools: check a plugin library, list the built-in plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Load the configuration and start every configured plugin, then stop: one line per
    /// plugin, or one line naming what failed.
    CheckConfig {
        /// The relay configuration (TOML). Without it, the development defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a plugin (.so), print its info and run the conformance suite of its kind.
    Check {
        /// The plugin's shared library.
        path: PathBuf,
        /// The plugin's own configuration, as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
    },
    /// List the plugins linked into this relay.
    List,
}

fn load_config(path: Option<&PathBuf>) -> Result<RelayConfig, String> {
    match path {
        Some(path) => RelayConfig::from_file(path).map_err(|e| e.to_string()),
        None => Ok(RelayConfig::default()),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let Some(command) = cli.command else {
        let mut config = load_config(cli.config.as_ref())?;
        if let Some(listen) = cli.listen {
            config.listen = listen;
        }
        if let Some(bind) = cli.media_bind {
            config.media.bind = bind;
        }
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .init();
        let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
        return runtime.block_on(conclave_relay::server::run(config));
    };
    match command {
        Command::Plugin(PluginCommand::Check { path, config }) => {
            check::check(&path, &config, &mut std::io::stdout()).map(|_| ())
        }
        Command::Plugin(PluginCommand::List) => {
            for (name, kind, module) in plugins::builtins() {
                let info = (module().info())();
                println!(
                    "{name}\t{} plugin\t{} {}",
                    kind.as_str(),
                    info.name,
                    info.version
                );
            }
            Ok(())
        }
        Command::CheckConfig { config } => {
            let cfg = load_config(config.as_ref().or(cli.config.as_ref()))?;
            cfg.validate()?;
            let started = plugins::start(&cfg).map_err(|e| e.to_string())?;
            println!(
                "auth: {} {}",
                started.auth.info().name,
                started.auth.info().version
            );
            println!(
                "storage: {} {}",
                started.storage.info().name,
                started.storage.info().version
            );
            for n in &started.notifiers {
                println!("notification: {} {}", n.info().name, n.info().version);
            }
            let m = &cfg.media;
            println!(
                "media: bind {} workers {} sendmmsg {} gso {}",
                m.bind,
                m.worker_count(),
                m.sendmmsg,
                m.gso
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("conclave-relay: error: {}", line.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
