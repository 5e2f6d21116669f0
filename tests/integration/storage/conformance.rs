//! The object-storage conformance suite: every test runs against every backend available (the
//! filesystem always, S3 through a real s3s-fs when installed).

use std::time::Duration;

use livesurgery::storage::{Playback, StorageError};

use super::support::{all_backends, content, sha256_hex};

#[tokio::test]
async fn a_file_comes_back_byte_for_byte_with_the_sha256_of_what_was_stored() {
    for backend in all_backends("storage::conformance").await {
        let kind = backend.store.kind();
        // Past 8 MiB: S3 stores it in parts.
        for (n, len) in [(1, 9 * 1024 * 1024 + 17), (2, 1000), (3, 0)] {
            let bytes = content(n, len);
            let source = backend.scratch.path().join(format!("segment-{n}"));
            std::fs::write(&source, &bytes).unwrap();
            let key = format!("archives/a1/segments/{n:08}.webm");

            let receipt = backend
                .store
                .put_file(&key, &source, "video/webm")
                .await
                .unwrap_or_else(|e| panic!("[{kind}] put_file {len} bytes: {e}"));
            assert_eq!(receipt.bytes, len as u64, "[{kind}]");
            assert_eq!(receipt.sha256, sha256_hex(&bytes), "[{kind}] {len} bytes");
            assert_eq!(backend.store.size(&key).await.unwrap(), Some(len as u64));

            let back = backend.scratch.path().join(format!("back-{n}"));
            let got = backend.store.get_to_file(&key, &back).await.unwrap();
            assert_eq!(got, len as u64, "[{kind}]");
            assert!(
                std::fs::read(&back).unwrap() == bytes,
                "[{kind}] {len} bytes differ"
            );
        }
    }
}

#[tokio::test]
async fn bytes_replace_an_object_and_listing_finds_keys_by_prefix_in_order() {
    for backend in all_backends("storage::conformance").await {
        let (store, kind) = (&backend.store, backend.store.kind());
        for key in [
            "archives/b/2",
            "archives/a/1",
            "archives/a/2",
            "archives/ab/1",
        ] {
            let receipt = store
                .put_bytes(key, key.as_bytes().to_vec(), "text/plain")
                .await
                .unwrap();
            assert_eq!(receipt.sha256, sha256_hex(key.as_bytes()), "[{kind}]");
        }
        let replaced = store
            .put_bytes("archives/a/1", b"second version".to_vec(), "text/plain")
            .await
            .unwrap();
        assert_eq!(replaced.bytes, 14, "[{kind}]");
        let back = backend.scratch.path().join("a1");
        store.get_to_file("archives/a/1", &back).await.unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), b"second version", "[{kind}]");

        assert_eq!(
            store.list("archives/a/").await.unwrap(),
            ["archives/a/1", "archives/a/2"],
            "[{kind}]"
        );
        assert_eq!(
            store.list("archives/a").await.unwrap(),
            ["archives/a/1", "archives/a/2", "archives/ab/1"],
            "[{kind}] a prefix is a key's beginning, not only a folder"
        );
        assert_eq!(store.list("").await.unwrap().len(), 4, "[{kind}]");
        assert!(store.list("archives/none/").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn deleting_is_idempotent_and_an_absent_object_is_reported_as_absent() {
    for backend in all_backends("storage::conformance").await {
        let (store, kind) = (&backend.store, backend.store.kind());
        store
            .put_bytes(
                "archives/c/segments/00000001.webm",
                vec![7; 10],
                "video/webm",
            )
            .await
            .unwrap();
        store
            .put_bytes("archives/c/playback.mp4", vec![8; 10], "video/mp4")
            .await
            .unwrap();
        for _ in 0..2 {
            store
                .delete("archives/c/segments/00000001.webm")
                .await
                .unwrap_or_else(|e| panic!("[{kind}] delete: {e}"));
        }
        store.delete("archives/never/stored").await.unwrap();
        assert_eq!(
            store.list("archives/c/").await.unwrap(),
            ["archives/c/playback.mp4"]
        );

        let absent = "archives/c/segments/00000001.webm";
        assert_eq!(store.size(absent).await.unwrap(), None, "[{kind}]");
        let back = backend.scratch.path().join("absent");
        let error = store.get_to_file(absent, &back).await.unwrap_err();
        assert!(
            matches!(error, StorageError::NotFound { .. }),
            "[{kind}] {error}"
        );
        assert!(!back.exists(), "[{kind}] a failed fetch leaves no file");
        let error = store
            .playback(absent, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::NotFound { .. }),
            "[{kind}] {error}"
        );
    }
}

#[tokio::test]
async fn keys_that_climb_out_or_are_not_ids_are_refused_by_every_operation() {
    for backend in all_backends("storage::conformance").await {
        let (store, kind) = (&backend.store, backend.store.kind());
        let source = backend.scratch.path().join("file");
        std::fs::write(&source, b"payload").unwrap();
        for key in [
            "../outside",
            "archives/../../outside",
            "/etc/outside",
            "archives//x",
            "archives/Dr Smith.webm",
        ] {
            let refused = |result: Result<(), StorageError>| {
                assert!(
                    matches!(result, Err(StorageError::InvalidKey { .. })),
                    "[{kind}] {key:?}: {result:?}"
                );
            };
            refused(store.put_file(key, &source, "x").await.map(drop));
            refused(store.put_bytes(key, vec![1], "x").await.map(drop));
            refused(store.get_to_file(key, &source).await.map(drop));
            refused(store.size(key).await.map(drop));
            refused(store.delete(key).await);
            refused(store.playback(key, Duration::from_secs(1)).await.map(drop));
        }
        assert!(matches!(
            store.list("../").await,
            Err(StorageError::InvalidKey { .. })
        ));
        assert!(store.list("").await.unwrap().is_empty(), "[{kind}]");
        assert_eq!(std::fs::read(&source).unwrap(), b"payload");
        if let Some(data_dir) = &backend.data_dir {
            let outside = data_dir.path().join("outside");
            assert!(
                !outside.exists() && !data_dir.path().parent().unwrap().join("outside").exists()
            );
        }
    }
}

#[tokio::test]
async fn playback_of_the_filesystem_store_is_the_file_under_data_dir_archives() {
    let backends = all_backends("storage::conformance").await;
    let backend = &backends[0];
    assert_eq!(backend.store.kind(), "filesystem");
    backend
        .store
        .put_bytes("archives/d/playback.mp4", vec![1, 2, 3], "video/mp4")
        .await
        .unwrap();
    let playback = backend
        .store
        .playback("archives/d/playback.mp4", Duration::from_secs(60))
        .await
        .unwrap();
    let data_dir = backend.data_dir.as_ref().unwrap().path();
    assert_eq!(
        playback,
        Playback::Local(data_dir.join("archives/archives/d/playback.mp4"))
    );
}
