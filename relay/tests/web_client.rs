//! The real relay binary on loopback serves the browser client from its web root: the page at
//! `/` and `/index.html`, the `app/` and `src/` trees it loads, and nothing else of the
//! directory (a checkout's `node_modules/`, `test/` and `package.json` stay private).
//! Unknown paths, and `/v1` paths, get the API's JSON errors.

mod common;

use std::time::Duration;

use common::media::RelayProcess;
use serde_json::Value;

struct Reply {
    status: u16,
    content_type: String,
    csp: String,
    body: String,
}

fn get(url: &str) -> Reply {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().expect("HTTP request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    Reply {
        status: resp.status().as_u16(),
        content_type,
        csp,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

#[test]
fn the_page_and_its_modules_are_served_and_nothing_else_of_the_web_root() {
    let web = tempfile::tempdir().expect("tempdir");
    let files = [
        ("index.html", "<!doctype html><title>conclave</title>"),
        ("app/main.js", "export const main = 1;"),
        ("app/style.css", "body { margin: 0 }"),
        ("src/crypto/sframe.js", "export const sframe = 1;"),
        ("node_modules/playwright-core/index.js", "private"),
        ("test/vectors/rust-made.json", "{\"private\": true}"),
        ("package.json", "{\"private\": true}"),
    ];
    for (path, text) in files {
        let p = web.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let root = web.path().display().to_string().replace('\\', "\\\\");
    let relay = RelayProcess::start(&format!("web_root = \"{root}\"\n[media]\nworkers = 1\n"));
    let url = |path: &str| format!("{}{path}", relay.url);

    for (path, file, mime) in [
        ("/", "index.html", "text/html"),
        ("/index.html", "index.html", "text/html"),
        ("/app/main.js", "app/main.js", "javascript"),
        ("/app/style.css", "app/style.css", "text/css"),
        (
            "/src/crypto/sframe.js",
            "src/crypto/sframe.js",
            "javascript",
        ),
    ] {
        let r = get(&url(path));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.content_type.contains(mime), "{path}: {}", r.content_type);
        // The page runs only its own scripts and talks only to this relay.
        assert!(
            r.csp.starts_with("default-src 'self';") && r.csp.contains("object-src 'none'"),
            "{path}: {}",
            r.csp
        );
        let want = files.iter().find(|(p, _)| *p == file).map(|(_, t)| *t);
        assert_eq!(Some(r.body.as_str()), want, "{path}");
    }

    for path in [
        "/node_modules/playwright-core/index.js",
        "/test/vectors/rust-made.json",
        "/package.json",
        "/app/missing.js",
        "/app/",
        "/src/../package.json",
        "/app/..%2fpackage.json",
        "/v1/nothing-here",
        "/nothing-here",
    ] {
        let r = get(&url(path));
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("private"), "{path} leaked: {}", r.body);
        let v: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.body));
        assert_eq!(v["error"]["code"], "not_found", "{path}: {}", r.body);
    }

    // The API is unaffected.
    let r = get(&url("/v1/info"));
    assert_eq!(r.status, 200, "{}", r.body);
}
