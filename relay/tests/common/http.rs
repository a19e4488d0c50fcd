//! One HTTP exchange with the relay under test, whatever its status.

use std::time::Duration;

use serde_json::Value;

/// A response: status, headers, body.
pub struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A header's value (empty when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The stable code of a JSON error (empty for anything else).
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// `method` (`GET`, `POST` or `DELETE`) on `url` with `headers`; `body` for `POST`.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let result = match method {
        "POST" => with_headers(agent.post(url), headers).send(body),
        "GET" => with_headers(agent.get(url), headers).call(),
        "DELETE" => with_headers(agent.delete(url), headers).call(),
        other => panic!("unsupported method {other}"),
    };
    let mut resp = result.expect("HTTP request");
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            let v = v.to_str().unwrap_or_default();
            (n.as_str().to_string(), v.to_string())
        })
        .collect();
    Reply {
        status: resp.status().as_u16(),
        headers,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn with_headers<B>(
    mut r: ureq::RequestBuilder<B>,
    headers: &[(&str, &str)],
) -> ureq::RequestBuilder<B> {
    for (n, v) in headers {
        r = r.header(*n, *v);
    }
    r
}
