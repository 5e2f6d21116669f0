//! The connection under HTTP/1.x, so that every error carries the envelope.
//!
//! actix-http answers three errors itself, before any service or middleware runs: `400` for a
//! request it cannot parse (a malformed request line or header), `431` for a head too large and
//! `408` for a head that does not arrive in time (`h1/dispatcher.rs`). It writes them with no
//! body, no `X-Request-Id` and none of the security headers, and offers no hook to change them.
//! [`Enveloped`] wraps the connection and, when the dispatcher writes one of these, writes in
//! its place the same status with the error envelope, a fresh `X-Request-Id` (logged), the
//! server's security headers and `Connection: close` (the dispatcher closes it after them).
//!
//! Such an answer is recognised by its head, written at the start of a write: one of those
//! three statuses, `content-length: 0` and no `x-request-id`. Every answer the application
//! writes has an `X-Request-Id` (the envelope middleware sets it on all of them), so none is
//! mistaken for one. (A streamed body whose chunk began with exactly such a head would be; the
//! server streams only web assets and recorded media, and neither holds HTTP text.) HTTP/2 connections (TLS with ALPN `h2`) are passed through untouched:
//! their errors are frames, not text.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Protocol, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config,
};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::error::{ErrorBody, ErrorDetail, code_for};
use super::headers::server_headers;

/// A connection whose dispatcher-made error answers are rewritten (see the module).
pub struct Enveloped<T> {
    io: T,
    /// Whether to look at what is written (HTTP/1.x) or pass it through (HTTP/2).
    active: bool,
    /// Whether the server terminates TLS (its answers then carry HSTS).
    tls: bool,
    /// A rewritten answer not yet written to `io`, from `written` on.
    pending: Vec<u8>,
    written: usize,
}

impl<T> Enveloped<T> {
    /// Wraps `io`; `http1`: whether it carries HTTP/1.x; `tls`: whether the server terminates
    /// TLS (the answers then carry HSTS).
    pub fn new(io: T, http1: bool, tls: bool) -> Enveloped<T> {
        Enveloped {
            io,
            active: http1,
            tls,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// If `buf` starts with the head of an answer the dispatcher made itself, the answer to write
/// instead and the length of that head (what `buf` it replaces).
fn rewrite(buf: &[u8], tls: bool) -> Option<(Vec<u8>, usize)> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !matches!(status, 400 | 408 | 431) {
        return None;
    }
    let end = find(buf, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let lower = head.to_ascii_lowercase();
    if lower.contains("\r\nx-request-id:") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let status_line = &head[..head.find("\r\n")?];
    let date = head
        .split("\r\n")
        .find(|line| line.to_ascii_lowercase().starts_with("date:"));
    let request_id = uuid::Uuid::now_v7().to_string();
    let (code, message) = code_for(StatusCode::from_u16(status).ok()?);
    tracing::info!(%request_id, status, code, "answered a request the HTTP parser refused");
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            request_id: request_id.clone(),
            current_version: None,
            media: None,
        },
    })
    .ok()?;
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in server_headers(tls) {
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(date) = date {
        answer.push_str(date);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some((answer, end))
}

impl<T: AsyncWrite + Unpin> Enveloped<T> {
    /// Writes what is pending of a rewritten answer; ready once all of it is written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Enveloped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Enveloped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if this.active
            && let Some((answer, replaced)) = rewrite(buf, this.tls)
        {
            this.pending = answer;
            // Started here; the flush that follows (or the next write) finishes it.
            if let Poll::Ready(Err(error)) = this.poll_pending(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(replaced));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Serves the app of `factory` on `listener` over [`Enveloped`] connections, as actix-web's
/// `HttpServer` would with its defaults (a worker per core, keep-alive and head timeouts of
/// 5 s, OS signals stop it, `shutdown_timeout` seconds for graceful shutdown); over TLS when
/// `tls` is given (HTTP/2 or HTTP/1.1 by ALPN).
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    shutdown_timeout: u64,
    factory: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let secure = tls.is_some();
    let builder = actix_server::ServerBuilder::default().shutdown_timeout(shutdown_timeout);
    let shutdown = builder.graceful_shutdown_signal();
    let builder = match tls {
        None => builder.listen("livesurgery-http", listener, move || {
            let http = http_service(factory.clone(), shutdown.clone(), addr, secure);
            fn_service(|io: TcpStream| async move {
                // Small frames (a WebSocket ack, then its event) must not wait for the peer's
                // delayed ACK (Nagle): that cost pushes ~40 ms.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok((Enveloped::new(io, true, false), Protocol::Http1, peer))
            })
            .and_then(http)
        })?,
        Some(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let acceptor = Acceptor::new(config);
            builder.listen("livesurgery-https", listener, move || {
                let http = http_service(factory.clone(), shutdown.clone(), addr, secure);
                acceptor
                    .clone()
                    .map_init_err(|_| unreachable!("the TLS acceptor does not fail to start"))
                    .map_err(TlsError::into_service_error)
                    .and_then(|io: TlsStream<TcpStream>| async move {
                        let h2 = io.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                        let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
                        let _ = io.get_ref().0.set_nodelay(true);
                        let peer = io.get_ref().0.peer_addr().ok();
                        Ok((Enveloped::new(io, !h2, true), protocol, peer))
                    })
                    .and_then(http.map_err(TlsError::Service))
            })?
        }
    };
    Ok(builder.run())
}

/// One worker's HTTP service over connections of type `T`, configured as `HttpServer`
/// configures it.
fn http_service<T, F, I, S, B>(
    factory: F,
    shutdown: actix_server::GracefulShutdownSignal,
    addr: std::net::SocketAddr,
    secure: bool,
) -> impl ServiceFactory<
    (T, Protocol, Option<std::net::SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = factory()
        .into_factory()
        .map_err(|err| err.into().error_response());
    HttpService::build()
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        })
        .keep_alive(KeepAlive::default())
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .h1_allow_half_closed(true)
        .local_addr(addr)
        // `HttpServer` makes this config with a crate-private constructor; this is its public
        // twin (semver-exempt, so it is the lock file's actix-web that it is written for).
        .finish(map_config(app, move |_| {
            AppConfig::__priv_test_new(secure, addr.to_string(), addr)
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_answer_of_the_parser_gets_the_envelope() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\
                     date: Thu, 03 Dec 2026 20:00:00 GMT\r\n\r\n";
        let (answer, replaced) = rewrite(bare, false).expect("rewritten");
        assert_eq!(replaced, bare.len());
        let text = String::from_utf8(answer).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nx-request-id: "), "{head}");
        assert!(head.contains("\r\ncache-control: no-store"), "{head}");
        assert!(head.contains("\r\ndate: Thu, 03 Dec 2026"), "{head}");
        let length: usize = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("a content-length");
        assert_eq!(length, body.len());
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(body["error"]["code"], "bad_request");
    }

    #[test]
    fn answers_of_the_application_are_left_alone() {
        for head in [
            // Every answer of the application has an X-Request-Id.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: a\r\n\r\n"[..],
            // A 400 with a body is the application's.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            // A body's bytes, or half a head.
            b"{\"error\":{}}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert!(
                rewrite(head, false).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
