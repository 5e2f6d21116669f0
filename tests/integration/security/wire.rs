//! What the HTTP parser answers by itself (issue 19: "a malformed request line gets `400` with
//! an empty body and no `X-Request-Id`; every error should carry the envelope"): a request it
//! cannot parse, a head too large and a head too slow each get the error envelope, an
//! `X-Request-Id` that the body quotes, and the security headers, on plain HTTP and under TLS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::edge::tls_server;
use crate::api::spawn::spawn_app;
use crate::helpers::fresh_sqlite;

/// An answer read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
    /// Everything read, for failure messages.
    text: String,
}

/// Writes `request` (what a broken client sends), pausing `pause` before `rest`; reads to the
/// end of the connection and parses the last answer on it.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    pause: Duration,
    rest: &[u8],
) -> Raw {
    // The server may close before it has read all of an oversized head: a failed write is
    // part of the story; the answer is what counts.
    let _ = stream.write_all(request).await;
    tokio::time::sleep(pause).await;
    let _ = stream.write_all(rest).await;
    let mut read = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut read)).await;
    let text = String::from_utf8_lossy(&read).into_owned();
    let last = text
        .rfind("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let (head, body) = text[last..]
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Raw {
        status,
        headers,
        body,
        text,
    }
}

/// Asserts the envelope of `code` with the status, a request id in both places, and the
/// security headers of the server's own answers.
#[track_caller]
fn assert_enveloped(raw: &Raw, status: u16, code: &str) {
    let text = &raw.text;
    assert_eq!(raw.status, status, "{text}");
    assert_eq!(raw.body["error"]["code"], code, "{text}");
    let id = raw.headers.get("x-request-id").expect("an X-Request-Id");
    assert_eq!(raw.body["error"]["request_id"], id.as_str(), "{text}");
    assert_eq!(
        raw.headers.get("content-type").map(String::as_str),
        Some("application/json"),
        "{text}"
    );
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            raw.headers.get(name).map(String::as_str),
            Some(value),
            "{text}"
        );
    }
    let csp = raw.headers.get("content-security-policy").expect("a CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{text}");
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("a connection to the server")
}

/// The port of a test server (its base URL is `http://127.0.0.1:<port>`).
fn port_of(app: &crate::api::spawn::TestApp) -> u16 {
    app.base
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", app.base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_line_gets_400_with_the_envelope_and_a_request_id() {
    let app = spawn_app(fresh_sqlite()).await;
    for request in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /v1/sessions HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /v1/ses sions HTTP/1.1 extra\r\n\r\n",
    ] {
        let raw = exchange(connect(port_of(&app)).await, request, Duration::ZERO, b"").await;
        assert_enveloped(&raw, 400, "bad_request");
    }
    // On a kept-alive connection, after an answer of the application.
    let raw = exchange(
        connect(port_of(&app)).await,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_millis(300),
        b"BROKEN\r\n\r\n",
    )
    .await;
    assert!(raw.text.starts_with("HTTP/1.1 200 OK\r\n"), "{}", raw.text);
    assert_enveloped(&raw, 400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_too_large_gets_431_with_the_envelope() {
    let app = spawn_app(fresh_sqlite()).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 200 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    let raw = exchange(connect(port_of(&app)).await, &request, Duration::ZERO, b"").await;
    assert_enveloped(&raw, 431, "headers_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_too_slow_gets_408_with_the_envelope() {
    let app = spawn_app(fresh_sqlite()).await;
    // Half a head, then nothing: the server's head timeout (5 s) answers.
    let raw = exchange(
        connect(port_of(&app)).await,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        Duration::ZERO,
        b"",
    )
    .await;
    assert_enveloped(&raw, 408, "request_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_a_malformed_request_line_gets_the_envelope_and_hsts() {
    let (port, pem, _data) = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("the test's certificate");
    roots.add(cert).expect("a root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let stream = connector
        .connect(name, connect(port).await)
        .await
        .expect("a TLS handshake");
    let raw = exchange(stream, b"NOT HTTP AT ALL\r\n\r\n", Duration::ZERO, b"").await;
    assert_enveloped(&raw, 400, "bad_request");
    assert_eq!(
        raw.headers
            .get("strict-transport-security")
            .map(String::as_str),
        Some("max-age=31536000"),
        "{}",
        raw.text
    );
}
