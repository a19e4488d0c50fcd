//! The relay cannot decrypt media because it has nothing to decrypt with: over `cargo
//! metadata`, the dependency closure of `conclave-relay` (normal and build dependencies,
//! transitively) contains no Conclave crypto provider, not the provider API, not the
//! client SDK, and none of the libraries the providers implement SFrame's AEAD with. (Its own cryptography is HMAC-SHA256 for ingress tags and tickets
//! and P-256 signature checks, with `hmac`/`sha2`/`p256` directly; TLS uses `ring` through
//! rustls.) The one exception is the WebRTC transport: str0m terminates DTLS-SRTP, hop-by-hop
//! transport encryption towards browsers, with `aws-lc-rs`; so the AEAD libraries are
//! checked in the relay's closure without str0m's subtree (nor rcgen's, whose back-end
//! str0m's features select), and the Conclave crates in all of it. SFrame keys never reach the relay either way (docs/PROTOCOL.md §13).

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Packages the relay must never depend on.
const FORBIDDEN: &[&str] = &[
    "conclave-client",
    "conclave-crypto",
    "conclave-crypto-software",
    "conclave-crypto-accel",
    "conclave-crypto-pkcs11",
    // What the providers are built on: SFrame's AEAD, the accelerated and the token
    // back-ends. (Not `hkdf`: `cargo metadata` resolves features for the whole workspace,
    // and the software provider's `p256/ecdh` pulls `hkdf` under the relay's `p256`.)
    "aes-gcm",
    "aws-lc-rs",
    "aws-lc-sys",
    "cryptoki",
    "hpke",
];

/// The host's target triple (`rustc -vV`), so that metadata needs no other platform's
/// packages (and works offline).
fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host(),
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Names of every package reachable from `root` over normal and build dependencies.
fn closure(meta: &Value, root: &str) -> BTreeSet<String> {
    closure_without(meta, root, &[])
}

/// [`closure`], not walking into the packages named in `stop` (nor listing them).
fn closure_without(meta: &Value, root: &str, stop: &[&str]) -> BTreeSet<String> {
    let packages: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = packages
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("{root} is not in the workspace"));
    let mut seen = BTreeSet::new();
    let mut todo = vec![root_id];
    let mut names = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        if stop.contains(&packages[id]) {
            continue;
        }
        names.insert(packages[id].to_string());
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let runtime = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if runtime {
                todo.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    names
}

#[test]
fn the_relay_depends_on_no_crypto_provider_and_not_on_the_client() {
    let meta = metadata();
    let relay = closure(&meta, "conclave-relay");
    assert!(
        relay.contains("conclave-wire"),
        "the walk found the relay's deps"
    );
    assert!(relay.contains("hmac"), "the walk found the relay's deps");
    // rcgen (the relay's self-signed TLS certificate) gets its aws-lc-rs back-end through
    // feature unification with str0m's DTLS stack, which generates DTLS certificates with it.
    let own = closure_without(&meta, "conclave-relay", &["str0m", "rcgen"]);
    let bad: Vec<_> = FORBIDDEN.iter().filter(|f| own.contains(**f)).collect();
    assert!(bad.is_empty(), "conclave-relay depends on {bad:?}");
    let conclave: Vec<_> = FORBIDDEN
        .iter()
        .filter(|f| f.starts_with("conclave-") && relay.contains(**f))
        .collect();
    assert!(
        conclave.is_empty(),
        "conclave-relay depends on {conclave:?}"
    );
    assert!(
        relay.contains("str0m"),
        "the walk found the WebRTC transport"
    );

    // The check can see such a dependency: the client's closure has them.
    let client = closure(&meta, "conclave-client");
    for p in ["conclave-crypto", "conclave-crypto-software", "aes-gcm"] {
        assert!(client.contains(p), "conclave-client should depend on {p}");
    }
}
