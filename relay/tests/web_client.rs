//! The real relay binary on loopback serves the browser client from its web root: the page at
//! `/` and `/index.html`, the `app/` and `src/` trees it loads, and nothing else of the
//! directory (a checkout's `node_modules/`, `test/` and `package.json` stay private).
//! Unknown paths, and `/v1` paths, get the API's JSON errors.

mod common;

use common::http::Reply;
use common::media::RelayProcess;
use serde_json::Value;

fn get(url: &str) -> Reply {
    common::http::request("GET", url, &[], b"")
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
        assert!(
            r.header("content-type").contains(mime),
            "{path}: {}",
            r.header("content-type")
        );
        // The page runs only its own scripts and talks only to this relay.
        let csp = r.header("content-security-policy");
        assert!(
            csp.starts_with("default-src 'self';") && csp.contains("object-src 'none'"),
            "{path}: {csp}"
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
