//! What only the S3 backend does, against a real s3s-fs: presigned playback URLs that a plain
//! HTTP client (a `<video>` element, ffprobe) opens with Range and no other header, and
//! credentials the server refuses, reported without the secret.

use std::time::Duration;

use livesurgery::storage::{self, Playback, StorageError};

use super::support::{BUCKET, S3Server, SECRET_KEY, content, s3_ready};

#[tokio::test]
async fn a_presigned_playback_url_serves_the_object_and_byte_ranges_with_no_other_header() {
    if !s3_ready("storage::s3::presigned") {
        return;
    }
    let server = S3Server::start().await;
    let store = server.store();
    let bytes = content(42, 1000);
    let key = "archives/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/playback.mp4";
    store
        .put_bytes(key, bytes.clone(), "video/mp4")
        .await
        .unwrap();

    let Playback::Url(url) = store.playback(key, Duration::from_secs(60)).await.unwrap() else {
        panic!("S3 playback is a URL");
    };
    assert!(url.starts_with(&server.endpoint()), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    assert!(!url.contains(SECRET_KEY), "{url}");

    let http = reqwest::Client::new();
    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(
        whole.headers()["content-type"],
        "video/mp4",
        "the content type given at upload"
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let range = http
        .get(&url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    // The signature is checked: the same URL for another key is refused.
    let other = url.replace("playback.mp4", "playback.mp5");
    let refused = http.get(&other).send().await.unwrap();
    assert_eq!(refused.status(), 403, "{}", refused.text().await.unwrap());
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_with_a_clear_error_that_never_shows_a_secret() {
    if !s3_ready("storage::s3::wrong_secret") {
        return;
    }
    let server = S3Server::start().await;
    let wrong = "wrong-secret-key-nobody-should-ever-see";
    let store = storage::open(&server.settings_with_secret(wrong)).unwrap();

    let error = store
        .put_bytes("archives/e/1", b"x".to_vec(), "text/plain")
        .await
        .unwrap_err();
    let text = format!("{error} | {error:?}");
    assert!(matches!(error, StorageError::Denied { .. }), "{text}");
    assert!(
        text.contains("refused") && text.contains("SignatureDoesNotMatch"),
        "{text}"
    );
    assert!(
        text.contains("check the S3 access key and secret key"),
        "{text}"
    );
    assert!(
        !text.contains(wrong) && !text.contains(SECRET_KEY),
        "{text}"
    );

    // Reads are refused as well, and nothing was stored.
    let error = store.list("archives/").await.unwrap_err();
    assert!(matches!(error, StorageError::Denied { .. }), "{error}");
    assert!(server.store().list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_reported_as_unavailable() {
    if !s3_ready("storage::s3::unreachable") {
        return;
    }
    let mut server = S3Server::start().await;
    let store = server.store();
    server.stop().await;
    let error = store
        .put_bytes("archives/f/1", b"x".to_vec(), "text/plain")
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Unavailable { .. }), "{error}");
    assert!(error.to_string().contains("archives/f/1"), "{error}");
    server.restart().await;
    store
        .put_bytes("archives/f/1", b"x".to_vec(), "text/plain")
        .await
        .unwrap();
}

#[tokio::test]
async fn open_names_the_missing_s3_setting() {
    let mut settings = livesurgery::settings::ApiSettings {
        storage: livesurgery::settings::StorageKind::S3,
        s3_endpoint: Some("http://127.0.0.1:9".into()),
        s3_access_key: Some("key".into()),
        s3_secret_key: Some("secret".parse().unwrap()),
        ..Default::default()
    };
    let error = storage::open(&settings).err().unwrap().to_string();
    assert!(
        error.contains("--s3-bucket") && error.contains("LIVESURGERY_S3_BUCKET"),
        "{error}"
    );
    settings.s3_bucket = Some(BUCKET.into());
    settings.s3_endpoint = Some("127.0.0.1:9000".into());
    let error = storage::open(&settings).err().unwrap().to_string();
    assert!(error.contains("http:// or https://"), "{error}");
}
