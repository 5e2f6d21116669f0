//! The web app's build embedded in the binary by `build.rs` (release builds, or
//! `LIVESURGERY_EMBED_WEB=1`), served from memory with the same rules as a folder.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::{EmbeddedFile, RustEmbed};

/// The files `vite build` wrote into OUT_DIR/web-app; none when the build did not embed the app.
#[derive(RustEmbed)]
#[folder = "$LIVESURGERY_WEB_APP_DIR"]
struct Build;

/// Whether this binary carries the web app.
pub fn is_present() -> bool {
    Build::get("index.html").is_some()
}

/// Answers a GET or HEAD of an app path: the file it names, a 404 for a missing asset, otherwise
/// `index.html` (the app routes in the browser).
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let tail = req.match_info().query("tail");
    let name = if tail.is_empty() || tail.ends_with('/') {
        "index.html"
    } else {
        tail
    };
    if let Some(file) = Build::get(name) {
        return respond(&req, name, file);
    }
    if super::names_a_file(req.path()) {
        return HttpResponse::NotFound().finish();
    }
    match Build::get("index.html") {
        Some(index) => respond(&req, "index.html", index),
        // Not registered without index.html (see `WebApp::choose`).
        None => HttpResponse::NotFound().finish(),
    }
}

/// The file as an answer: its type, cache policy and ETag, or 304 when the client has it.
fn respond(req: &HttpRequest, name: &str, file: EmbeddedFile) -> HttpResponse {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = super::cache_control(name);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)));
    if fresh {
        return response.finish();
    }
    response.content_type(content_type(file.metadata.mimetype()));
    match file.data {
        Cow::Borrowed(bytes) => response.body(bytes),
        Cow::Owned(bytes) => response.body(bytes),
    }
}

/// The MIME type, with `charset=utf-8` for text (Vite writes UTF-8).
fn content_type(mime: &str) -> String {
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}
