//! Samples the relay once a second while a run lasts: CPU and RSS from `/proc` (when the
//! tool started the relay) and the media counters from its `/metrics`.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::procstat;
use crate::record::unix_us;
use crate::scrape;

/// One second of the relay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelaySample {
    /// Unix µs at the end of the second.
    pub t_us: u64,
    /// Cores busy during the second (`None` for a relay this tool did not start).
    pub cpu_cores: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Cores this load generator itself used during the second (its participants share the
    /// machine with the relay).
    pub tester_cpu_cores: Option<f64>,
    pub datagrams_in_per_s: f64,
    pub datagrams_out_per_s: f64,
    pub bits_in_per_s: f64,
    pub bits_out_per_s: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    datagrams_in: f64,
    datagrams_out: f64,
    bytes_in: f64,
    bytes_out: f64,
}

fn counter(m: &std::collections::HashMap<String, f64>, name: &str) -> f64 {
    m.get(&format!("{name}_total"))
        .or_else(|| m.get(name))
        .copied()
        .unwrap_or(0.0)
}

async fn scrape_counters(client: &reqwest::Client, url: &str) -> Option<Counters> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let m = scrape::parse(&text);
    Some(Counters {
        datagrams_in: counter(&m, "conclave_media_datagrams_in"),
        datagrams_out: counter(&m, "conclave_media_datagrams_out"),
        bytes_in: counter(&m, "conclave_media_bytes_in"),
        bytes_out: counter(&m, "conclave_media_bytes_out"),
    })
}

/// The relay's media drops so far, by reason (empty if /metrics cannot be read).
pub async fn relay_drops(url: &str) -> std::collections::BTreeMap<String, f64> {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .danger_accept_invalid_certs(true)
        .build()
    else {
        return Default::default();
    };
    let text = match client.get(format!("{url}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return Default::default(),
    };
    let mut drops = scrape::by_label(&text, "conclave_media_dropped_total", "reason");
    drops.retain(|_, v| *v > 0.0);
    drops
}

/// Samples until `stop` turns true; returns the samples.
pub async fn sample_relay(
    url: String,
    pid: Option<u32>,
    mut stop: watch::Receiver<bool>,
) -> Vec<RelaySample> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut last_proc = pid.and_then(procstat::sample);
    let me = std::process::id();
    let mut last_self = procstat::sample(me);
    let mut last_counters = scrape_counters(&client, &url).await;
    let mut last_t = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return out;
        }
        let now = std::time::Instant::now();
        let secs = now.duration_since(last_t).as_secs_f64().max(1e-3);
        last_t = now;
        let proc_now = pid.and_then(procstat::sample);
        let cpu_cores = match (&last_proc, &proc_now) {
            (Some(a), Some(b)) => Some(procstat::cpu_between(a, b)),
            _ => None,
        };
        let rss_bytes = proc_now.as_ref().map(|p| p.rss_bytes);
        last_proc = proc_now;
        let self_now = procstat::sample(me);
        let tester_cpu_cores = match (&last_self, &self_now) {
            (Some(a), Some(b)) => Some(procstat::cpu_between(a, b)),
            _ => None,
        };
        last_self = self_now;
        let counters = scrape_counters(&client, &url).await;
        let rate = |f: fn(&Counters) -> f64| match (&last_counters, &counters) {
            (Some(a), Some(b)) => (f(b) - f(a)).max(0.0) / secs,
            _ => 0.0,
        };
        out.push(RelaySample {
            t_us: unix_us(),
            cpu_cores,
            rss_bytes,
            tester_cpu_cores,
            datagrams_in_per_s: rate(|c| c.datagrams_in),
            datagrams_out_per_s: rate(|c| c.datagrams_out),
            bits_in_per_s: rate(|c| c.bytes_in) * 8.0,
            bits_out_per_s: rate(|c| c.bytes_out) * 8.0,
        });
        if counters.is_some() {
            last_counters = counters;
        }
    }
}
