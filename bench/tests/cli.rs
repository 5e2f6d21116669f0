//! The `livesurgery-bench` binary as a user runs it.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery-bench");

fn bench(binary: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_remove("LIVESURGERY_BENCH_SERVER_BIN")
        .env_remove("LIVESURGERY_BENCH_POSTGRES_URL")
        .output()
        .unwrap()
}

#[test]
fn the_store_suite_prints_its_figures_and_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "store",
        "--seconds",
        "0.2",
        "--latency-samples",
        "8",
        "--rebuild-events",
        "200",
    ];
    let out = bench(BIN, dir.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for figure in [
        "== sqlite ==",
        "1000 stream(s), 16 writer(s):",
        "subscriber end-to-end latency (append call to delivery, 8 appends by 4 writers): p50",
        "baseline: reading the log =",
        "rebuild users",
        "projection rebuild, all 6 projections in one pass",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_suite_that_runs_the_server_says_how_to_build_it_when_it_is_missing() {
    // The bench binary alone in a folder: no `livesurgery` beside it.
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("livesurgery-bench");
    std::fs::copy(BIN, &alone).unwrap();
    for args in [&["ws"][..], &["sfu", "--sfu-steps", "1"]] {
        let suite = args[0];
        let out = bench(alone.to_str().unwrap(), dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{suite}: {stderr}");
        assert!(
            stderr.contains("cargo build") && stderr.contains("-p livesurgery`"),
            "{suite}: {stderr}"
        );
        assert!(stderr.contains("--server-bin"), "{suite}: {stderr}");
    }
    let out = bench(BIN, dir.path(), &["ws", "--server-bin", "/no/such/server"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--server-bin /no/such/server: no such file"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_backend_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(BIN, dir.path(), &["--backend", "oracle", "store"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown backend \"oracle\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_upload_suite_prints_its_figures_or_says_why_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(
        BIN,
        dir.path(),
        &["upload", "--files", "2", "--file-kib", "64"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = stdout
        .contains("upload: SKIPPED: s3s-fs not installed")
        .then(|| "s3s-fs not installed".to_owned());
    if livesurgery_testkit::prerequisites_met(
        "the upload suite",
        missing,
        "LIVESURGERY_REQUIRE_S3",
        "bash .ci/install-s3.sh",
    ) {
        for figure in [
            "2 segments of 64 KiB",
            "baseline: rust-s3 put_object loop",
            "Spool + S3Store, enqueue to flushed:",
        ] {
            assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
