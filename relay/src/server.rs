//! Running the relay: plugins, secrets, the control plane on its listener, background tasks,
//! graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::RelayConfig;
use crate::control::{self, Secrets, state::Settings};
use crate::media::native::MediaPlane;
use crate::plugins;

/// Starts everything and serves until Ctrl-C or SIGTERM. Start-up failures are one line.
pub async fn run(config: RelayConfig) -> Result<(), String> {
    config.validate()?;
    let tls = if config.tls.enabled_for(config.loopback_only()) {
        Some(
            config
                .tls
                .material(&config.data_dir, &config.listen.ip().to_string())?,
        )
    } else if config.loopback_only() {
        None
    } else {
        return Err(format!(
            "{}: plain HTTP is only allowed on loopback addresses; enable [tls]",
            config.listen
        ));
    };
    let secrets = Secrets::load_or_create(&config.data_dir)?;
    let started = tokio::task::spawn_blocking({
        let config = config.clone();
        move || plugins::start(&config)
    })
    .await
    .map_err(|_| "plugin start-up was aborted".to_string())?
    .map_err(|e| e.to_string())?;
    let settings = Settings {
        username_salt: secrets.username_salt,
        ticket_secret: secrets.ticket_secret,
        retention_ms: u64::from(config.retention_days) * 24 * 3600 * 1000,
        max_container_bytes: config.limits.max_container_bytes,
        prekey_low_water: config.limits.prekey_low_water,
        bundle_burst: f64::from(config.limits.bundle_burst),
        bundle_per_second: config.limits.bundle_per_second,
        ticket_ttl_ms: 12 * 3600 * 1000,
    };
    let media = Arc::new(MediaPlane::start(&config.media, secrets.ticket_secret)?);
    let state = control::state(started, settings, media.clone())?;
    let std_listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("{}: {e}", config.listen))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
    control::spawn_expiry(
        state.clone(),
        Duration::from_secs(config.expiry_interval_s.max(1)),
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "conclave-relay {} listening on {scheme}://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  control API  {scheme}://{addr}/v1/info");
    println!(
        "  health       {scheme}://{addr}/healthz  readiness {scheme}://{addr}/readyz  metrics {scheme}://{addr}/metrics"
    );
    if let Some(t) = &tls {
        println!("  tls          {}  sha256 {}", t.source, t.fingerprint);
    }
    println!(
        "  plugins      auth {}  storage {}  notification {}",
        state.plugins.auth.info().name,
        state.plugins.storage.info().name,
        state
            .plugins
            .notifiers
            .iter()
            .map(|n| n.info().name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  media        udp {}  ({} workers, sendmmsg {}, gso {})",
        media.addresses().join(" "),
        media.addresses().len(),
        on_off(config.media.sendmmsg),
        on_off(media.gso()),
    );
    println!(
        "  media        webrtc {}",
        match media.rtc_addrs() {
            a if a.is_empty() => "off".to_string(),
            a => format!(
                "udp {}",
                a.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    );
    println!("  data         {}", config.data_dir.display());
    let web_root = config.web_root();
    if let Some(w) = &web_root {
        println!("  web          {} at /", w.display());
    }
    let app = control::router(state.clone(), web_root);
    match tls {
        None => {
            let listener = TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown())
                .await
                .map_err(|e| format!("server: {e}"))?;
        }
        Some(t) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(t.cert_pem, t.key_pem)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown().await;
                h.graceful_shutdown(Some(Duration::from_secs(5)));
            });
            axum_server::from_tcp_rustls(std_listener, rustls)
                .map_err(|e| format!("tls: {e}"))?
                .handle(handle)
                .serve(app.into_make_service())
                .await
                .map_err(|e| format!("server: {e}"))?;
        }
    }
    // The workers tell every session CLOSED(5) and stop.
    let _ = tokio::task::spawn_blocking(move || media.shutdown()).await;
    for n in &state.plugins.notifiers {
        let _ = n.flush(2000);
    }
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
