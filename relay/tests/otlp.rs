//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the relay pushes its metrics to the collector
//! over OTLP/HTTP (here a minimal collector on loopback that records what it receives).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn metrics_are_pushed_to_the_otlp_collector() {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_addr = collector.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in collector.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = vec![0u8; 64 * 1024];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(head).is_err() {
                return;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_conclave-relay"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--media-bind", "127.0.0.1:0"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(30));
    let _ = relay.kill();
    let _ = relay.wait();
    let head = got.expect("the relay never exported metrics");
    assert!(head.starts_with("POST /v1/metrics"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );
}
