//! The report of a suite of runs: `report.json` (with a schema version), a per-second CSV
//! per run, and a concise table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::baseline::BaselineResult;
use crate::monitor::RelaySample;
use crate::relay::RelaySettings;
use crate::run::RunOutcome;
use crate::scenario::RunSpec;
use crate::slo::{self, Metric, Objective, Verdict};
use crate::stats::{Latency, LatencySummary};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub machine: Machine,
    pub runs: Vec<RunReport>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub kernel: String,
    pub cpu: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            cpu,
        }
    }
}

/// Figures over a set of participants (one meeting, or all).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figures {
    pub participants: u64,
    pub frames_sent: u64,
    pub frames_expected: u64,
    pub frames_delivered: u64,
    /// `1 − delivered / expected`.
    pub loss: f64,
    pub jitter_ms: Option<f64>,
    pub latency: LatencySummary,
    pub decrypt_failures: u64,
    pub decrypt_failures_by_reason: BTreeMap<String, u64>,
    /// Losses on the participants' side (datagrams their sessions dropped, frames their
    /// reassembly abandoned, events not read in time), by reason.
    pub client_drops: BTreeMap<String, u64>,
    pub join: LatencySummary,
    pub first_frame_after_join: LatencySummary,
    pub first_frame_after_rekey: LatencySummary,
    pub rekey_glitch_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct RelayUsage {
    pub cpu_cores_mean: Option<f64>,
    pub cpu_cores_max: Option<f64>,
    pub rss_bytes_max: Option<u64>,
    pub datagrams_in_per_s: f64,
    pub datagrams_out_per_s: f64,
    pub bits_in_per_s: f64,
    pub bits_out_per_s: f64,
    /// Relay CPU time per forwarded datagram, µs (cores × 1e6 / egress datagrams/s).
    pub cpu_us_per_datagram_out: Option<f64>,
    /// Datagrams the relay dropped during the run, by reason (from its /metrics).
    pub drops: BTreeMap<String, f64>,
    /// Cores the load generator itself used (mean): when it nears the machine's cores,
    /// latency and loss are the generator's, not the relay's.
    pub tester_cpu_cores_mean: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SecondRow {
    pub second: usize,
    pub frames_delivered: u64,
    pub bits_delivered_per_s: f64,
    pub latency: LatencySummary,
    pub relay: Option<RelaySample>,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub spec: RunSpec,
    pub relay: Option<RelaySettings>,
    pub overall: Figures,
    pub meetings: Vec<Figures>,
    pub relay_usage: RelayUsage,
    pub baseline: Option<BaselineResult>,
    /// Relay egress datagrams/s over the baseline's delivered datagrams/s, same run.
    pub egress_ratio: Option<f64>,
    pub rekeys: u64,
    pub setup_s: f64,
    pub warnings: Vec<String>,
    pub slo: Vec<Verdict>,
    pub per_second: Vec<SecondRow>,
}

fn summary(durations: impl Iterator<Item = std::time::Duration>) -> LatencySummary {
    let mut l = Latency::new();
    for d in durations {
        l.record_us(d.as_micros() as u64);
    }
    l.summary()
}

fn figures<'a>(ps: impl Iterator<Item = &'a crate::run::ParticipantOutcome> + Clone) -> Figures {
    let mut latency = Latency::new();
    let (mut expected, mut delivered, mut sent, mut failures) = (0, 0, 0, 0);
    let mut jitters = Vec::new();
    let mut glitch: Option<std::time::Duration> = None;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut client_drops: BTreeMap<String, u64> = BTreeMap::new();
    let mut n = 0;
    for p in ps.clone() {
        n += 1;
        let r = &p.recorder;
        latency.merge(&r.latency);
        let (e, d) = r.expected_delivered();
        expected += e;
        delivered += d;
        sent += r.frames_sent;
        failures += r.decrypt_failures;
        jitters.extend(r.mean_jitter_ms());
        glitch = glitch.max(r.rekey_glitch());
        for (k, v) in &r.failures_by_reason {
            *by_reason.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &r.client_drops {
            *client_drops.entry(k.clone()).or_default() += v;
        }
    }
    Figures {
        participants: n,
        frames_sent: sent,
        frames_expected: expected,
        frames_delivered: delivered,
        loss: if expected == 0 {
            0.0
        } else {
            1.0 - delivered as f64 / expected as f64
        },
        jitter_ms: (!jitters.is_empty())
            .then(|| jitters.iter().sum::<f64>() / jitters.len() as f64),
        latency: latency.summary(),
        decrypt_failures: failures,
        decrypt_failures_by_reason: by_reason,
        client_drops,
        join: summary(ps.clone().filter_map(|p| p.recorder.join)),
        first_frame_after_join: summary(ps.clone().filter_map(|p| p.recorder.first_frame)),
        first_frame_after_rekey: summary(
            ps.clone()
                .flat_map(|p| p.recorder.first_after_rekey.iter().copied()),
        ),
        rekey_glitch_ms: glitch.map(|g| g.as_secs_f64() * 1000.0),
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Summarises a run.
pub fn summarise(
    spec: &RunSpec,
    relay: Option<RelaySettings>,
    outcome: &RunOutcome,
    samples: &[RelaySample],
    relay_drops: BTreeMap<String, f64>,
    baseline: Option<BaselineResult>,
    objectives: &[Objective],
) -> RunReport {
    let overall = figures(outcome.participants.iter());
    let meetings = (0..spec.meetings)
        .map(|m| figures(outcome.participants.iter().filter(move |p| p.meeting == m)))
        .collect();
    let w = &outcome.windows;
    let measured: Vec<&RelaySample> = samples
        .iter()
        .filter(|s| s.t_us > w.start_us && s.t_us <= w.end_us + 500_000)
        .collect();
    let cpu = mean(measured.iter().filter_map(|s| s.cpu_cores));
    let out_pps = mean(measured.iter().map(|s| s.datagrams_out_per_s)).unwrap_or(0.0);
    let relay_usage = RelayUsage {
        cpu_cores_mean: cpu,
        cpu_cores_max: measured
            .iter()
            .filter_map(|s| s.cpu_cores)
            .fold(None, |m, c| Some(m.map_or(c, |m: f64| m.max(c)))),
        rss_bytes_max: measured.iter().filter_map(|s| s.rss_bytes).max(),
        datagrams_in_per_s: mean(measured.iter().map(|s| s.datagrams_in_per_s)).unwrap_or(0.0),
        datagrams_out_per_s: out_pps,
        bits_in_per_s: mean(measured.iter().map(|s| s.bits_in_per_s)).unwrap_or(0.0),
        bits_out_per_s: mean(measured.iter().map(|s| s.bits_out_per_s)).unwrap_or(0.0),
        cpu_us_per_datagram_out: cpu.filter(|_| out_pps > 0.0).map(|c| c * 1e6 / out_pps),
        drops: relay_drops,
        tester_cpu_cores_mean: mean(measured.iter().filter_map(|s| s.tester_cpu_cores)),
    };
    let egress_ratio = baseline
        .as_ref()
        .filter(|b| b.delivered_pps > 0.0)
        .map(|b| out_pps / b.delivered_pps);

    // Per second: merge the participants' rows, attach the relay's sample of that second.
    let seconds = w.seconds();
    let mut per_second = Vec::with_capacity(seconds);
    for i in 0..seconds {
        let mut latency = Latency::new();
        let (mut frames, mut bytes) = (0, 0);
        for p in &outcome.participants {
            if let Some(r) = p.recorder.per_second.get(i) {
                frames += r.frames;
                bytes += r.bytes;
                latency.merge(&r.latency);
            }
        }
        let end_us = w.start_us + (i as u64 + 1) * 1_000_000;
        let relay = samples
            .iter()
            .min_by_key(|s| s.t_us.abs_diff(end_us))
            .filter(|s| s.t_us.abs_diff(end_us) < 1_000_000)
            .cloned();
        per_second.push(SecondRow {
            second: i,
            frames_delivered: frames,
            bits_delivered_per_s: bytes as f64 * 8.0,
            latency: latency.summary(),
            relay,
        });
    }
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for p in &outcome.participants {
        for w in &p.warnings {
            *warnings.entry(w.clone()).or_default() += 1;
        }
    }
    let value_of = |m: Metric| -> Option<f64> {
        let o = &overall;
        let has_latency = o.latency.samples > 0;
        match m {
            Metric::Loss => Some(o.loss),
            Metric::P50 => has_latency.then(|| o.latency.p50_ms / 1e3),
            Metric::P90 => has_latency.then(|| o.latency.p90_ms / 1e3),
            Metric::P99 => has_latency.then(|| o.latency.p99_ms / 1e3),
            Metric::MaxLatency => has_latency.then(|| o.latency.max_ms / 1e3),
            Metric::Jitter => o.jitter_ms.map(|j| j / 1e3),
            Metric::DecryptFailures => Some(o.decrypt_failures as f64),
            Metric::JoinP99 => (o.join.samples > 0).then(|| o.join.p99_ms / 1e3),
            Metric::FirstFrameP99 => (o.first_frame_after_join.samples > 0)
                .then(|| o.first_frame_after_join.p99_ms / 1e3),
            Metric::RekeyGlitch => o.rekey_glitch_ms.map(|g| g / 1e3),
            Metric::EgressRatio => egress_ratio,
            Metric::RelayCpu => relay_usage.cpu_cores_mean,
        }
    };
    let slo = slo::check(objectives, value_of);
    RunReport {
        spec: spec.clone(),
        relay,
        overall,
        meetings,
        relay_usage,
        baseline,
        egress_ratio,
        rekeys: outcome.rekeys,
        setup_s: outcome.setup.as_secs_f64(),
        warnings: warnings
            .into_iter()
            .map(|(w, n)| if n > 1 { format!("{w} (×{n})") } else { w })
            .collect(),
        slo,
        per_second,
    }
}

impl RunReport {
    pub fn slo_passed(&self) -> bool {
        self.slo.iter().all(|v| v.passed)
    }
}

/// The per-second CSV of a run.
pub fn csv(run: &RunReport) -> String {
    let mut out = String::from(
        "second,frames_delivered,bits_delivered_per_s,latency_p50_ms,latency_p99_ms,\
         relay_cpu_cores,relay_rss_bytes,relay_datagrams_in_per_s,relay_datagrams_out_per_s,\
         relay_bits_in_per_s,relay_bits_out_per_s\n",
    );
    for r in &run.per_second {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let relay = r.relay.as_ref();
        let _ = writeln!(
            out,
            "{},{},{:.0},{:.3},{:.3},{},{},{},{},{},{}",
            r.second,
            r.frames_delivered,
            r.bits_delivered_per_s,
            r.latency.p50_ms,
            r.latency.p99_ms,
            opt(relay.and_then(|s| s.cpu_cores).map(|c| format!("{c:.3}"))),
            opt(relay.and_then(|s| s.rss_bytes).map(|b| b.to_string())),
            opt(relay.map(|s| format!("{:.0}", s.datagrams_in_per_s))),
            opt(relay.map(|s| format!("{:.0}", s.datagrams_out_per_s))),
            opt(relay.map(|s| format!("{:.0}", s.bits_in_per_s))),
            opt(relay.map(|s| format!("{:.0}", s.bits_out_per_s))),
        );
    }
    out
}

/// A concise table of the suite.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9} {:>7}",
        "run",
        "parts",
        "expected",
        "delivered",
        "loss",
        "p50 ms",
        "p99 ms",
        "jit ms",
        "fails",
        "relay cpu",
        "out pps",
        "vs base"
    );
    for r in &report.runs {
        let o = &r.overall;
        let _ = writeln!(
            out,
            "{:<18} {:>6} {:>9} {:>9} {:>6.3}% {:>8.2} {:>8.2} {:>8} {:>6} {:>9} {:>9.0} {:>7} {:>8}",
            truncate(&r.spec.name, 18),
            o.participants,
            o.frames_expected,
            o.frames_delivered,
            o.loss * 100.0,
            o.latency.p50_ms,
            o.latency.p99_ms,
            o.jitter_ms.map_or("-".into(), |j| format!("{j:.2}")),
            o.decrypt_failures,
            r.relay_usage
                .cpu_cores_mean
                .map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
            r.relay_usage.datagrams_out_per_s,
            r.egress_ratio
                .map_or("-".into(), |x| format!("{:.0}%", x * 100.0)),
            r.relay_usage
                .tester_cpu_cores_mean
                .map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
        );
        if r.rekeys > 0 {
            let _ = writeln!(
                out,
                "{:<18} rekeys {}: first frame after rekey p99 {:.1} ms, glitch {}",
                "",
                r.rekeys,
                o.first_frame_after_rekey.p99_ms,
                o.rekey_glitch_ms
                    .map_or("-".into(), |g| format!("{g:.1} ms")),
            );
        }
        let fmt_map = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if o.decrypt_failures > 0 {
            let _ = writeln!(
                out,
                "{:<18} decrypt failures: {}",
                "",
                fmt_map(&o.decrypt_failures_by_reason)
            );
        }
        if !o.client_drops.is_empty() {
            let _ = writeln!(out, "{:<18} client drops: {}", "", fmt_map(&o.client_drops));
        }
        if !r.relay_usage.drops.is_empty() {
            let drops: BTreeMap<String, u64> = r
                .relay_usage
                .drops
                .iter()
                .map(|(k, v)| (k.clone(), *v as u64))
                .collect();
            let _ = writeln!(out, "{:<18} relay drops: {}", "", fmt_map(&drops));
        }
        for v in r.slo.iter().filter(|v| !v.passed) {
            let _ = writeln!(
                out,
                "{:<18} SLO breached: {} (measured {})",
                "",
                v.objective,
                v.value.map_or("nothing".into(), |x| format!("{x:.6}")),
            );
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Writes `report.json` and one CSV per run into `dir`.
pub fn write(dir: &Path, report: &Report) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| format!("report: {e}"))?;
    let path = dir.join("report.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, r) in report.runs.iter().enumerate() {
        let path = dir.join(format!("run-{}-{}.csv", i + 1, file_safe(&r.spec.name)));
        std::fs::write(&path, csv(r)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
