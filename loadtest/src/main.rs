//! `conclave-loadtest`: see the crate documentation and docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use conclave_crypto::CryptoProvider;
use conclave_loadtest::baseline::{self, BaselineSpec};
use conclave_loadtest::relay::{self, RelaySettings, RelayUnderTest};
use conclave_loadtest::report::{self, Machine, Report};
use conclave_loadtest::run::{self, Live};
use conclave_loadtest::scenario::{self, Profile, RunSpec};
use conclave_loadtest::{monitor, plot, saturate, slo};

#[derive(Parser)]
#[command(
    name = "conclave-loadtest",
    version,
    about = "Load-tests many-party end-to-end encrypted conferences against a Conclave relay",
    long_about = "Load-tests many-party end-to-end encrypted conferences against a Conclave relay: \
        real identities, invites through the control plane, SFrame-encrypted audio and simulcast \
        video, scheduled leaves with real rekeys. Reports delivered/expected frames, loss, jitter, \
        end-to-end latency, time to first decryptable frame after joins and rekeys, rekey \
        glitches, decrypt failures and the relay's CPU, memory and packet rates, beside the \
        machine's raw UDP fan-out limit measured in the same run. Traffic stays on loopback."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one load test (from flags) or a suite (from a scenario file).
    Run(Box<RunArgs>),
    /// Measures the machine's raw UDP fan-out limit (sendmmsg on loopback), nothing else.
    Baseline(BaselineArgs),
    /// Measures a started relay at its limit beside the baseline, same fan-out and size:
    /// egress datagrams/s (as a ratio to the baseline), CPU per datagram, and the
    /// relay-added latency at half that rate.
    Saturate(SaturateArgs),
    /// One publisher → N subscribers over WebRTC (str0m participants, DTLS-SRTP), then the
    /// same fan-out on the native transport: relay datagrams/s, CPU and CPU per datagram.
    Webrtc(WebrtcArgs),
}

#[derive(clap::Args)]
struct WebrtcArgs {
    /// Subscribers of the one publisher.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Measured seconds per path.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds between the joins and the measured period.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// The publisher's video bitrate, kbit/s (30 fps, a key frame a second).
    #[arg(long, default_value_t = 300)]
    video_kbps: u32,
    #[command(flatten)]
    relay: RelayArgs,
    /// Print JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SaturateArgs {
    /// Subscribers of the one publisher.
    #[arg(long, default_value_t = 100)]
    fanout: usize,
    /// Datagram size, bytes (one-fragment frames).
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Seconds per phase (baseline, maximum, half rate).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    #[command(flatten)]
    relay: RelayArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Clone)]
struct RelayArgs {
    /// The relay binary to start (default: next to this binary, then PATH).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// Media worker threads of the started relay (default: cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Start the relay with sendmmsg off (one send per datagram).
    #[arg(long)]
    no_sendmmsg: bool,
    /// Start the relay with UDP GSO off.
    #[arg(long)]
    no_gso: bool,
}

impl RelayArgs {
    fn settings(&self) -> RelaySettings {
        RelaySettings {
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            sendmmsg: !self.no_sendmmsg,
            gso: !self.no_gso,
            session_timeout_ms: None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Crypto {
    /// RustCrypto.
    Software,
    /// aws-lc-rs with the CPU's AES/SHA instructions.
    Accel,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A TOML scenario file with a suite of runs (`[defaults]` and `[[run]]` tables); the
    /// run flags below are ignored when given.
    #[arg(long)]
    scenario: Option<PathBuf>,
    #[arg(long, default_value = "run")]
    name: String,
    #[arg(long, default_value_t = 1)]
    meetings: u32,
    /// Participants per meeting.
    #[arg(long, default_value_t = 4)]
    participants: u32,
    /// Publishers per meeting (default: every participant).
    #[arg(long)]
    publishers: Option<u32>,
    #[arg(long, value_enum, default_value = "audio")]
    profile: ProfileArg,
    /// Video layer bitrates in kbit/s, lowest first.
    #[arg(long, value_delimiter = ',', num_args = 3, default_values_t = [150, 500, 1500])]
    video_kbps: Vec<u32>,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds between the last join and the measured period.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Joins per second.
    #[arg(long, default_value_t = 50.0)]
    ramp: f64,
    /// Seconds into the measured period at which a participant leaves (a rekey follows);
    /// repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    leave_at: Vec<f64>,
    /// Seconds into the measured period at which the initiator adds one more participant
    /// per meeting (a rekey and an invite follow); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    join_at: Vec<f64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A relay to test (loopback only); by default the tool starts `conclave-relay` itself.
    #[arg(long)]
    relay: Option<String>,
    #[command(flatten)]
    relay_args: RelayArgs,
    /// The participants' crypto provider.
    #[arg(long, value_enum, default_value = "software")]
    crypto: Crypto,
    /// Skip the same-run baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Service-level objectives, e.g. 'loss<0.1%,p99<50ms,decrypt_failures=0'; a breach
    /// makes the exit code 1.
    #[arg(long)]
    slo: Option<String>,
    /// Where report.json, the per-second CSVs and the PNG plots go.
    #[arg(long, default_value = "loadtest-report")]
    out: PathBuf,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Audio,
    Video,
    Mixed,
}

#[derive(clap::Args)]
struct BaselineArgs {
    /// Subscribers per sender.
    #[arg(long, default_value_t = 100)]
    fanout: usize,
    /// Datagram size, bytes.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Sender threads.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Ingress packets per second per sender (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Print JSON instead of a line of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run_command(*a),
        Command::Baseline(a) => baseline_command(a).map(|()| true),
        Command::Saturate(a) => saturate_command(a).map(|()| true),
        Command::Webrtc(a) => webrtc_command(a).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("conclave-loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

fn baseline_command(a: BaselineArgs) -> Result<(), String> {
    if !a.duration.is_finite() || !(0.1..=600.0).contains(&a.duration) {
        return Err("--duration must be 0.1..=600 seconds".into());
    }
    let spec = BaselineSpec {
        senders: a.senders,
        fanout: a.fanout,
        packet_size: a.size,
        rate_pps: a.rate,
        duration: Duration::from_secs_f64(a.duration),
    };
    let r = baseline::run(&spec).map_err(|e| format!("baseline: {e}"))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "baseline: {} sender(s) × {} subscribers, {} B: {:.0} datagrams/s delivered \
             ({:.0} sent, loss {:.2}%, {:.1} Mbit/s)",
            a.senders,
            a.fanout,
            a.size,
            r.delivered_pps,
            r.sent_pps,
            r.loss * 100.0,
            r.delivered_bits_per_s / 1e6
        );
    }
    Ok(())
}

fn webrtc_command(a: WebrtcArgs) -> Result<(), String> {
    use conclave_loadtest::webrtc;
    if !a.duration.is_finite() || !(1.0..=600.0).contains(&a.duration) {
        return Err("--duration must be 1..=600 seconds".into());
    }
    if !a.warmup.is_finite() || !(0.0..=60.0).contains(&a.warmup) {
        return Err("--warmup must be 0..=60 seconds".into());
    }
    if !(1..=200).contains(&a.subscribers) {
        return Err("--subscribers must be 1..=200".into());
    }
    if !(10..=10_000).contains(&a.video_kbps) {
        return Err("--video-kbps must be 10..=10000".into());
    }
    let binary = relay::find_binary(a.relay.relay_bin.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let spec = webrtc::BenchSpec {
        subscribers: a.subscribers,
        duration: Duration::from_secs_f64(a.duration),
        video_kbps: a.video_kbps,
        warmup: Duration::from_secs_f64(a.warmup),
    };
    let provider: Arc<dyn CryptoProvider> =
        Arc::new(conclave_crypto_software::SoftwareProvider::new());
    let r = webrtc::bench(&runtime, &binary, a.relay.settings(), provider, &spec)?;
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    if a.json {
        println!("{json}");
    } else {
        print!("{}", webrtc::table(&r));
        println!("{json}");
    }
    Ok(())
}

fn saturate_command(a: SaturateArgs) -> Result<(), String> {
    if !a.duration.is_finite() || !(0.5..=60.0).contains(&a.duration) {
        return Err("--duration must be 0.5..=60 seconds".into());
    }
    let binary = relay::find_binary(a.relay.relay_bin.as_deref())?;
    let mut settings = a.relay.settings();
    // The subscribers stay silent after joining: keep their sessions for the whole run.
    settings.session_timeout_ms = Some(600_000);
    let relay = RelayUnderTest::start(&binary, settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let provider: Arc<dyn CryptoProvider> =
        Arc::new(conclave_crypto_software::SoftwareProvider::new());
    let spec = saturate::SaturateSpec {
        fanout: a.fanout,
        datagram_size: a.size,
        duration: Duration::from_secs_f64(a.duration),
    };
    let r = saturate::run(&runtime, &relay.url, relay.pid(), provider, &spec)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let cpu = |p: &saturate::Phase| {
        p.relay_cpu_us_per_datagram
            .map_or("-".into(), |c| format!("{c:.2} µs/datagram"))
    };
    println!(
        "fan-out 1 → {}, {} B datagrams (relay: {} workers, sendmmsg {}, gso {})",
        a.fanout,
        a.size,
        relay.settings.as_ref().map_or(0, |s| s.workers),
        !a.relay.no_sendmmsg,
        !a.relay.no_gso
    );
    println!(
        "  baseline        {:>10.0} datagrams/s delivered",
        r.baseline.delivered_pps
    );
    println!(
        "  relay, maximum  {:>10.0} datagrams/s delivered = {:.1}% of the baseline; loss {:.2}%; {}",
        r.max.delivered_pps,
        r.egress_ratio * 100.0,
        r.max.loss * 100.0,
        cpu(&r.max)
    );
    println!(
        "  relay, half     {:>10.0} datagrams/s; relay-added latency p50 {:.3} ms, p99 {:.3} ms; loss {:.2}%; {}",
        r.half.delivered_pps,
        r.half.relay_latency.p50_ms,
        r.half.relay_latency.p99_ms,
        r.half.loss * 100.0,
        cpu(&r.half)
    );
    Ok(())
}

fn spec_from_flags(a: &RunArgs) -> Result<RunSpec, String> {
    let video_kbps: [u32; 3] = a
        .video_kbps
        .clone()
        .try_into()
        .map_err(|_| "--video-kbps takes three values".to_string())?;
    let spec = RunSpec {
        name: a.name.clone(),
        meetings: a.meetings,
        participants: a.participants,
        publishers: a.publishers.unwrap_or(a.participants),
        profile: match a.profile {
            ProfileArg::Audio => Profile::Audio,
            ProfileArg::Video => Profile::Video,
            ProfileArg::Mixed => Profile::Mixed,
        },
        video_kbps,
        duration_s: a.duration,
        warmup_s: a.warmup,
        ramp_per_s: a.ramp,
        leave_at_s: a.leave_at.clone(),
        join_at_s: a.join_at.clone(),
        seed: a.seed,
    };
    spec.validate()?;
    Ok(spec)
}

fn run_command(a: RunArgs) -> Result<bool, String> {
    let specs = match &a.scenario {
        Some(path) => scenario::load(path)?,
        None => vec![spec_from_flags(&a)?],
    };
    let objectives = match &a.slo {
        Some(s) => slo::parse(s)?,
        None => Vec::new(),
    };
    let provider: Arc<dyn CryptoProvider> = match a.crypto {
        Crypto::Software => Arc::new(conclave_crypto_software::SoftwareProvider::new()),
        Crypto::Accel => Arc::new(
            conclave_crypto_accel::AccelProvider::new()
                .map_err(|e| format!("accel crypto provider: {e}"))?,
        ),
    };
    let settings = a.relay_args.settings();
    let workers = settings.workers;
    let binary = match &a.relay {
        Some(_) => None,
        None => Some(relay::find_binary(a.relay_args.relay_bin.as_deref())?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut runs = Vec::new();
    for spec in &specs {
        // A fresh relay per run, so that runs do not disturb each other.
        let relay = match (&a.relay, &binary) {
            (Some(url), _) => RelayUnderTest::external(url)?,
            (None, Some(bin)) => RelayUnderTest::start(bin, settings.clone())?,
            (None, None) => unreachable!("a binary is found when no URL is given"),
        };
        let live = Arc::new(Live::default());
        let progress = (!a.quiet).then(|| progress_line(spec, live.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sampler = runtime.spawn(monitor::sample_relay(
            relay.url.clone(),
            relay.pid(),
            stop_rx,
        ));
        let outcome = runtime.block_on(run::run(&relay.url, spec, provider.clone(), live.clone()));
        let _ = stop_tx.send(true);
        let samples = runtime.block_on(sampler).unwrap_or_default();
        if let Some(p) = progress {
            p.finish_and_clear();
        }
        let outcome = outcome.map_err(|e| format!("run `{}`: {e}", spec.name))?;
        let relay_drops = runtime.block_on(monitor::relay_drops(&relay.url));
        let settings_used = relay.settings.clone();
        drop(relay);
        let baseline = if a.no_baseline {
            None
        } else {
            Some(same_run_baseline(spec, &samples, workers)?)
        };
        runs.push(report::summarise(
            spec,
            settings_used,
            &outcome,
            &samples,
            relay_drops,
            baseline,
            &objectives,
        ));
    }
    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: format!("conclave-loadtest {}", env!("CARGO_PKG_VERSION")),
        machine: Machine::detect(),
        runs,
    };
    report::write(&a.out, &report)?;
    match plot::write(&a.out, &report) {
        Ok(_) => {}
        Err(e) => eprintln!("conclave-loadtest: {e}"),
    }
    print!("{}", report::table(&report));
    println!("report: {}", a.out.join("report.json").display());
    Ok(report.runs.iter().all(|r| r.slo_passed()))
}

/// The baseline with the run's fan-out pattern: one sender per busy worker, each packet to
/// every other participant of a meeting, at the run's mean egress datagram size.
fn same_run_baseline(
    spec: &RunSpec,
    samples: &[monitor::RelaySample],
    workers: usize,
) -> Result<baseline::BaselineResult, String> {
    let (bits, pps) = samples.iter().fold((0.0, 0.0), |(b, p), s| {
        (b + s.bits_out_per_s, p + s.datagrams_out_per_s)
    });
    let size = if pps > 0.0 {
        ((bits / 8.0 / pps) as usize).clamp(16, 1200)
    } else {
        1200
    };
    let senders = (spec.meetings as usize).min(workers).max(1);
    baseline::run(&BaselineSpec {
        senders,
        fanout: (spec.participants - 1) as usize,
        packet_size: size,
        rate_pps: None,
        duration: Duration::from_secs(3),
    })
    .map_err(|e| format!("baseline: {e}"))
}

fn progress_line(spec: &RunSpec, live: Arc<Live>) -> indicatif::ProgressBar {
    let total = u64::from(spec.all_participants());
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let name = spec.name.clone();
    let b = bar.clone();
    std::thread::spawn(move || {
        while !b.is_finished() {
            b.set_message(format!(
                "{name}: registered {}/{total}, joined {}/{total}, frames decrypted {}, failures {}",
                live.registered.load(Ordering::Relaxed),
                live.joined.load(Ordering::Relaxed),
                live.frames.load(Ordering::Relaxed),
                live.failures.load(Ordering::Relaxed),
            ));
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    bar
}
