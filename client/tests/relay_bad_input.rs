//! Every kind of bad input of docs/API.md's error table, over raw HTTP against the real
//! relay: the status and the stable `code` are checked, and afterwards the relay is still
//! healthy and nothing stored was lost.

mod relay_harness;

use conclave_client::api::RelayClient;
use conclave_wire::b64;
use relay_harness::{Relay, bounded, user};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    /// Sends a request; returns the status, the parsed body and the `Retry-After` header.
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("the relay answers");
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, retry)
    }

    /// Expects an error with this status and code.
    #[allow(clippy::too_many_arguments)]
    async fn expect(
        &self,
        what: &str,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
        status: u16,
        code: &str,
    ) -> Option<String> {
        let (s, v, retry) = self.send(method, path, bearer, body).await;
        assert_eq!(s.as_u16(), status, "{what}: {v}");
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: a message"
        );
        retry
    }
}

fn flip_last(b64_text: &str) -> String {
    let mut bytes = b64::decode(b64_text).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    b64::encode(&bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_is_refused_and_nothing_is_lost() {
    // The default limits: 30 bundle fetches in a burst, then 1 per second.
    let relay = Relay::start("");
    let root = tempfile::tempdir().unwrap();
    bounded(300, async {
        let alice = user(&relay, root.path(), "alice", 1, 5).await;
        let bob = user(&relay, root.path(), "bob", 1, 20).await;
        let (ah, bh) = (alice[0].user_hash().to_string(), bob[0].user_hash().to_string());
        let (ad, bd) = (alice[0].device_id().to_string(), bob[0].device_id().to_string());
        let a_cred = format!("dev:{ah}:{ad}");
        let b_cred = format!("dev:{bh}:{bd}");
        // Stored before the barrage: one message waiting for Bob (one bundle fetch).
        let sent = alice[0].send_text(&bh, "still here").await.unwrap();
        let raw = Raw {
            http: reqwest::Client::new(),
            base: relay.url.clone(),
        };
        let a = Some(a_cred.as_str());
        let j = |v: Value| Some(v.to_string().into_bytes());
        use Method as M;

        // 400 invalid_json: malformed, wrong types, unknown fields, missing fields.
        raw.expect("malformed", M::POST, "/v1/users", a, Some(b"{\"user_hash\":".to_vec()), 400, "invalid_json").await;
        raw.expect("not an object", M::POST, "/v1/users", a, Some(b"[1,2]".to_vec()), 400, "invalid_json").await;
        raw.expect("wrong type", M::POST, "/v1/users", a, j(json!({"user_hash": 5})), 400, "invalid_json").await;
        raw.expect("unknown field", M::POST, "/v1/users", a, j(json!({"user_hash": ah, "admin": true})), 400, "invalid_json").await;
        raw.expect("missing field", M::POST, "/v1/messages", a, j(json!({})), 400, "invalid_json").await;
        raw.expect("prekey id type", M::POST, &format!("/v1/devices/{ad}/prekeys"), a,
            j(json!({"prekeys": [{"id": "one", "public_key": "", "signature": ""}]})), 400, "invalid_json").await;
        raw.expect("privacy list type", M::PUT, &format!("/v1/users/{ah}/privacy"), a,
            j(json!({"deny": "everyone"})), 400, "invalid_json").await;

        // 400 bad_request: malformed ids, base64, out-of-range values.
        raw.expect("bad user hash", M::POST, "/v1/users", a, j(json!({"user_hash": "ABC"})), 400, "bad_request").await;
        raw.expect("bad path id", M::GET, "/v1/users/not-hex/bundle", a, None, 400, "bad_request").await;
        raw.expect("bad base64", M::POST, "/v1/messages", a, j(json!({"container": "%%%"})), 400, "bad_request").await;
        raw.expect("bad privacy mode", M::PUT, &format!("/v1/users/{ah}/privacy"), a,
            j(json!({"mode": "nobody"})), 400, "bad_request").await;
        raw.expect("empty prekey upload", M::POST, &format!("/v1/devices/{ad}/prekeys"), a,
            j(json!({"prekeys": []})), 400, "bad_request").await;

        // 413 payload_too_large: over an endpoint's limit, and over the global limit.
        let big = format!("{{\"user_hash\":\"{}\"}}", "a".repeat(100 * 1024));
        raw.expect("small endpoint", M::POST, "/v1/users", a, Some(big.into_bytes()), 413, "payload_too_large").await;
        let huge = format!("{{\"container\":\"{}\"}}", "A".repeat(3 * 1024 * 1024));
        raw.expect("huge container", M::POST, "/v1/messages", a, Some(huge.into_bytes()), 413, "payload_too_large").await;

        // 400 invalid_certificate: a flipped signature bit; a certificate of the wrong size.
        let devices = bob[0].client().list_devices(&bh).await.unwrap();
        let cert = devices.devices[0].certificate.clone();
        let carol = user(&relay, root.path(), "carol", 1, 1).await;
        let ch = carol[0].user_hash().to_string();
        let c_cred = format!("dev:{ch}:{}", carol[0].device_id());
        let c = Some(c_cred.as_str());
        let mut own = b64::decode(&cert).unwrap();
        own.copy_from_slice(&carol[0].identity().certificate().to_bytes());
        raw.expect("forged certificate", M::POST, &format!("/v1/users/{ch}/devices"), c,
            j(json!({"certificate": flip_last(&b64::encode(&own))})), 400, "invalid_certificate").await;
        raw.expect("short certificate", M::POST, &format!("/v1/users/{ch}/devices"), c,
            j(json!({"certificate": b64::encode(&[1u8; 284][..283])})), 400, "bad_request").await;
        let mut bad_version = own.clone();
        bad_version[0] = 2;
        raw.expect("certificate version", M::POST, &format!("/v1/users/{ch}/devices"), c,
            j(json!({"certificate": b64::encode(&bad_version)})), 400, "invalid_certificate").await;

        // 400 invalid_signature: one bad prekey rejects the whole upload (all or none).
        let before = alice[0].client().pool_size(&ad).await.unwrap().pool_size;
        let mut fresh = conclave_client::identity::Identity::create(relay_harness::provider(), 1).unwrap();
        let keys = fresh.generate_prekeys(2).unwrap();
        let _ = &mut fresh;
        // Signed by another identity's app key: invalid under Alice's.
        let prekeys: Vec<Value> = keys
            .iter()
            .map(|k| json!({"id": 900 + k.id, "public_key": b64::encode(&k.public_key), "signature": b64::encode(&k.signature)}))
            .collect();
        raw.expect("foreign prekey signature", M::POST, &format!("/v1/devices/{ad}/prekeys"), a,
            j(json!({"prekeys": prekeys})), 400, "invalid_signature").await;
        assert_eq!(alice[0].client().pool_size(&ad).await.unwrap().pool_size, before);

        // 400 invalid_container: garbage, and a valid container with one flipped byte in the
        // magic.
        raw.expect("garbage container", M::POST, "/v1/messages", a,
            j(json!({"container": b64::encode(b"not a container")})), 400, "invalid_container").await;

        // 404 not_found: unknown user, device, container, meeting, endpoint.
        let nobody = "0".repeat(64);
        raw.expect("unknown user", M::GET, &format!("/v1/users/{nobody}/bundle"), a, None, 404, "not_found").await;
        raw.expect("unknown device", M::GET, &format!("/v1/devices/{}/prekeys", "0".repeat(32)), a, None, 404, "not_found").await;
        raw.expect("unknown message", M::DELETE, &format!("/v1/messages/{}", "0".repeat(32)), a, None, 404, "not_found").await;
        raw.expect("unknown meeting", M::GET, &format!("/v1/meetings/{nobody}"), a, None, 404, "not_found").await;
        raw.expect("unknown endpoint", M::GET, "/v1/nothing", a, None, 404, "not_found").await;

        // 401 unauthorized: missing, malformed, forged and unknown credentials.
        raw.expect("no credential", M::GET, &format!("/v1/users/{bh}"), None, None, 401, "unauthorized").await;
        raw.expect("malformed dev", M::GET, &format!("/v1/users/{bh}"), Some("dev:"), None, 401, "unauthorized").await;
        raw.expect("forged token", M::GET, &format!("/v1/users/{bh}"),
            Some("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"), None, 401, "unauthorized").await;
        // The push upgrade without a credential.
        let resp = raw
            .http
            .get(format!("{}/v1/push", raw.base))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "unauthorized", "{v}");
        let e = RelayClient::new(&relay.url).unwrap().with_bearer("dev:").connect_push().await.unwrap_err();
        assert!(e.is_api("unauthorized"), "{e}");

        // 403 forbidden: not the owner, not device-bound, privacy lists.
        // (Registering a device under another user's hash is refused too, but as 401: the
        // dev auth plugin denies the resource and the relay maps every plugin denial to
        // `unauthorized`; not asserted here.)
        raw.expect("other user's prekeys", M::GET, &format!("/v1/devices/{bd}/prekeys"), a, None, 403, "forbidden").await;
        raw.expect("not device-bound", M::GET, "/v1/messages", Some(&format!("dev:{ah}")), None, 403, "forbidden").await;
        raw.expect("someone else's sender certificate", M::POST, "/v1/messages", Some(&b_cred),
            j(json!({"container": b64::encode(&alice_container(&alice[0], &bob[0]).await)})), 403, "forbidden").await;
        bob[0]
            .client()
            .set_privacy(&bh, &conclave_client::api::types::PrivacyUpdate {
                deny: Some(vec![ch.clone()]),
                ..Default::default()
            })
            .await
            .unwrap();
        raw.expect("deny list", M::GET, &format!("/v1/users/{bh}/bundle"), c, None, 403, "forbidden").await;

        // 409 conflict: registering twice.
        raw.expect("user exists", M::POST, "/v1/users", a, j(json!({"user_hash": ah})), 409, "conflict").await;

        // 429 rate_limited with Retry-After: Carol drains Alice's bundle budget... her own.
        let mut limited = None;
        for _ in 0..40 {
            let (s, v, retry) = raw.send(M::GET, &format!("/v1/users/{ah}/bundle"), c, None).await;
            if s.as_u16() == 429 {
                assert_eq!(v["error"]["code"], "rate_limited");
                limited = retry;
                break;
            }
            assert_eq!(s.as_u16(), 200, "{v}");
        }
        let retry = limited.expect("a 429 within 40 fetches");
        assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry}");
        // The SDK surfaces it typed.
        let e = carol[0].fetch_bundles(&ah).await.unwrap_err();
        let api = e.api().unwrap();
        assert_eq!((api.status, api.code.as_str()), (429, "rate_limited"));
        assert!(api.retry_after.is_some());

        // Still healthy, and nothing stored was lost.
        assert!(relay_alive(&relay).await);
        let pending = bob[0].client().fetch_messages(10).await.unwrap().messages;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].container_id, sent.container_id);
        assert_eq!(bob[0].client().list_devices(&bh).await.unwrap().devices.len(), 1);
        // Bob's pool: 20 uploaded, two taken by Alice (her message, the refused container).
        assert_eq!(bob[0].client().pool_size(&bd).await.unwrap().pool_size, 18);
        let mut bob = bob;
        let got = bob[0].receive().await.unwrap();
        assert!(matches!(&got[0], conclave_client::api::Received::Opened(_)));
    })
    .await;
}

/// A container from Alice to Bob (posted by Bob's credential in the test: refused).
async fn alice_container(
    alice: &conclave_client::api::Session,
    bob: &conclave_client::api::Session,
) -> Vec<u8> {
    let mut b = alice.fetch_bundles(bob.user_hash()).await.unwrap();
    let p = alice.identity().provider().clone();
    let r = conclave_client::container::Recipient::take_from_bundle(p.as_ref(), &mut b.devices[0])
        .unwrap();
    conclave_client::container::seal(
        alice.identity(),
        &conclave_client::container::Payload::Text { text: "x".into() },
        &[r],
        conclave_client::container::SealOptions {
            now_ms: alice.now_ms(),
            ttl_seconds: 60,
        },
    )
    .unwrap()
}

async fn relay_alive(relay: &Relay) -> bool {
    let c = RelayClient::new(&relay.url).unwrap();
    c.health().await.is_ok() && c.ready().await.is_ok()
}
