//! Metrics through OpenTelemetry, exported as Prometheus text at `/metrics` and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, pushed to that OTLP/HTTP collector. Labels carry
//! route templates, methods and statuses only: never user, device or meeting identifiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

use super::state::SharedState;
use crate::media::native::{Drop as MediaDrop, MediaStats};

/// The relay's instruments.
pub struct Metrics {
    registry: prometheus::Registry,
    _provider: SdkMeterProvider,
    requests: Counter<u64>,
    latency: Histogram<f64>,
    stored: Counter<u64>,
    acknowledged: Counter<u64>,
    pool: Histogram<u64>,
    /// Refreshed from storage before each scrape.
    containers_now: Arc<AtomicU64>,
    /// Refreshed from the push hub before each scrape.
    connected_now: Arc<AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The instruments; with `media`, also the media plane's (read at each collection).
    pub fn new(media: Option<Arc<MediaStats>>) -> Result<Self, String> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| format!("metrics exporter: {e}"))?;
        let mut builder = SdkMeterProvider::builder().with_reader(exporter);
        // OTLP/HTTP export beside the Prometheus endpoint when a collector is configured
        // (the standard OTEL_EXPORTER_OTLP_* variables; interval OTEL_METRIC_EXPORT_INTERVAL).
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || std::env::var_os("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_some()
        {
            let otlp = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .build()
                .map_err(|e| format!("OTLP metrics exporter: {e}"))?;
            builder = builder
                .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(otlp).build());
        }
        let provider = builder.build();
        let meter = provider.meter("conclave-relay");
        if let Some(media) = media {
            register_media(&meter, media);
        }
        let containers_now = Arc::new(AtomicU64::new(0));
        let connected_now = Arc::new(AtomicU64::new(0));
        let c = containers_now.clone();
        meter
            .u64_observable_gauge("conclave_containers_stored")
            .with_description("Containers currently stored")
            .with_callback(move |o| o.observe(c.load(Ordering::Relaxed), &[]))
            .build();
        let d = connected_now.clone();
        meter
            .u64_observable_gauge("conclave_connected_devices")
            .with_description("Devices connected to the push channel")
            .with_callback(move |o| o.observe(d.load(Ordering::Relaxed), &[]))
            .build();
        Ok(Metrics {
            requests: meter
                .u64_counter("conclave_http_requests")
                .with_description("Control API requests by route, method and status")
                .build(),
            latency: meter
                .f64_histogram("conclave_http_request_duration")
                .with_unit("s")
                .with_description("Control API request latency by route and method")
                .with_boundaries(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .build(),
            stored: meter
                .u64_counter("conclave_containers_posted")
                .with_description("Containers accepted for delivery")
                .build(),
            acknowledged: meter
                .u64_counter("conclave_containers_acknowledged")
                .with_description("Container deliveries acknowledged by a device")
                .build(),
            pool: meter
                .u64_histogram("conclave_prekey_pool_size")
                .with_description("Prekey pool sizes seen after uploads and bundle fetches")
                .with_boundaries(vec![
                    0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
                ])
                .build(),
            registry,
            _provider: provider,
            containers_now,
            connected_now,
        })
    }

    pub fn container_stored(&self) {
        self.stored.add(1, &[]);
    }

    pub fn container_acknowledged(&self) {
        self.acknowledged.add(1, &[]);
    }

    pub fn prekey_pool(&self, size: u64) {
        self.pool.record(size, &[]);
    }

    /// The Prometheus text of every instrument, after refreshing the gauges.
    pub fn render(&self, containers: u64, connected: u64) -> String {
        self.containers_now.store(containers, Ordering::Relaxed);
        self.connected_now.store(connected, Ordering::Relaxed);
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The media plane's instruments: observable counters and gauges over the workers' shared
/// counters (labels: drop reasons only).
fn register_media(meter: &opentelemetry::metrics::Meter, media: Arc<MediaStats>) {
    type Pick = fn(&crate::media::native::Totals) -> u64;
    let counters: [(&'static str, &'static str, Pick); 7] = [
        (
            "conclave_media_datagrams_in",
            "Media datagrams received",
            |t| t.counters.datagrams_in,
        ),
        ("conclave_media_bytes_in", "Media bytes received", |t| {
            t.counters.bytes_in
        }),
        (
            "conclave_media_datagrams_out",
            "Media datagrams sent",
            |t| t.counters.datagrams_out,
        ),
        ("conclave_media_bytes_out", "Media bytes sent", |t| {
            t.counters.bytes_out
        }),
        ("conclave_media_joins", "Media sessions joined", |t| {
            t.counters.joins
        }),
        (
            "conclave_media_join_rejects",
            "Valid tickets refused",
            |t| t.counters.rejects,
        ),
        ("conclave_media_closes", "Media sessions closed", |t| {
            t.counters.closes
        }),
    ];
    for (name, description, pick) in counters {
        let m = media.clone();
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_callback(move |o| o.observe(pick(&m.totals()), &[]))
            .build();
    }
    let m = media.clone();
    meter
        .u64_observable_counter("conclave_media_dropped")
        .with_description("Media datagrams dropped, by reason")
        .with_callback(move |o| {
            let t = m.totals();
            for reason in MediaDrop::ALL {
                o.observe(
                    t.counters.dropped(reason),
                    &[KeyValue::new("reason", reason.as_str())],
                );
            }
        })
        .build();
    let m = media.clone();
    meter
        .u64_observable_gauge("conclave_media_sessions")
        .with_description("Media sessions open")
        .with_callback(move |o| o.observe(m.totals().sessions, &[]))
        .build();
    meter
        .u64_observable_gauge("conclave_media_meetings")
        .with_description("Meetings with media sessions")
        .with_callback(move |o| o.observe(media.totals().meetings, &[]))
        .build();
}

/// Middleware: counts requests and records their latency by route template.
pub async fn track(State(s): State<SharedState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        KeyValue::new("route", route.clone()),
        KeyValue::new("method", method.clone()),
    ];
    s.metrics
        .latency
        .record(start.elapsed().as_secs_f64(), &labels);
    s.metrics.requests.add(
        1,
        &[
            KeyValue::new("route", route),
            KeyValue::new("method", method),
            KeyValue::new("status", status),
        ],
    );
    response
}
