//! Build script: rebuild on new migrations, and build the web app (`frontend/`) into OUT_DIR for
//! `src/web/embedded.rs` to embed, in release builds or with `LIVESURGERY_EMBED_WEB=1`.
//!
//! The web app needs Node.js 20+ and npm at build time. Without them, or when npm fails, one
//! `cargo:warning` says what is missing and how to fix it, and nothing is embedded: the server
//! still builds and runs its API. Debug builds (`cargo test`) never run npm unless asked to.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `1`: embed the web app in this (debug) build too, as CI does to test the embedded path.
const EMBED: &str = "LIVESURGERY_EMBED_WEB";
/// `1`: never build or embed the web app (serve one with `--web-dir`, or none).
const SKIP: &str = "LIVESURGERY_SKIP_WEB_BUILD";
/// The oldest Node.js major version Vite 8 runs on.
const NODE_MAJOR: u32 = 20;
/// What the frontend's build reads besides `node_modules`.
const INPUTS: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    // sqlx::migrate! embeds the migrations at compile time: rebuild when one is added.
    println!("cargo:rerun-if-changed=schemas/migrations");
    embed_web_app();
}

fn embed_web_app() {
    println!("cargo:rerun-if-env-changed={EMBED}");
    println!("cargo:rerun-if-env-changed={SKIP}");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Always there and empty unless a build lands in it, so the derive never points at a
    // missing folder and a build without the app embeds nothing stale.
    let dist = out_dir.join("web-app");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).expect("emptying OUT_DIR/web-app");
    }
    std::fs::create_dir_all(&dist).expect("creating OUT_DIR/web-app");
    println!("cargo:rustc-env=LIVESURGERY_WEB_APP_DIR={}", dist.display());

    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let asked = std::env::var(EMBED).is_ok_and(|v| v == "1");
    let skipped = std::env::var(SKIP).is_ok_and(|v| v == "1");
    if skipped || !(release || asked) {
        return;
    }
    let frontend = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("frontend");
    for input in INPUTS {
        println!("cargo:rerun-if-changed=frontend/{input}");
    }
    if let Err(problem) = build_frontend(&frontend, &dist) {
        // Whatever landed there is not a whole build.
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(&dist).expect("creating OUT_DIR/web-app");
        println!(
            "cargo:warning=the web app is not embedded: {problem}; the server will run its API \
             and answer / with 503 (set {SKIP}=1 to build without the web app)"
        );
    }
}

/// Runs `npm ci` when needed and `vite build` into `dist`; the error says what to do.
fn build_frontend(frontend: &Path, dist: &Path) -> Result<(), String> {
    let node = tool_version("node").ok_or_else(|| {
        watch_path_for_node();
        format!("Node.js was not found: install Node.js {NODE_MAJOR}+ (with npm) and rebuild")
    })?;
    let major = node
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < NODE_MAJOR) {
        watch_path_for_node();
        return Err(format!(
            "Node.js {} is too old: install Node.js {NODE_MAJOR}+ and rebuild",
            node.trim()
        ));
    }
    if tool_version("npm").is_none() {
        watch_path_for_node();
        return Err("npm was not found: install it with Node.js and rebuild".into());
    }
    let retry = "fix it, then `touch frontend/package.json` and rebuild";
    if needs_install(frontend) {
        run_npm(frontend, &["ci", "--no-audit", "--no-fund"])
            .map_err(|why| format!("`npm ci` in frontend/ failed ({why}): {retry}"))?;
    }
    let out = dist.to_str().ok_or("OUT_DIR is not valid UTF-8")?;
    run_npm(
        frontend,
        &[
            "exec",
            "--no",
            "--",
            "vite",
            "build",
            "--outDir",
            out,
            "--emptyOutDir",
            // Source maps would double the embedded app for a debugger's sake only; a build
            // served with --web-dir (`npm run build`) keeps them.
            "--sourcemap",
            "false",
            "--logLevel",
            "warn",
        ],
    )
    .map_err(|why| format!("`vite build` in frontend/ failed ({why}): {retry}"))?;
    if !dist.join("index.html").is_file() {
        return Err(format!("`vite build` wrote no index.html: {retry}"));
    }
    Ok(())
}

/// `tool --version`, when the tool runs.
fn tool_version(tool: &str) -> Option<String> {
    let output = Command::new(tool).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// While Node.js is missing, look again when PATH or a folder on it changes (Node.js installed).
fn watch_path_for_node() {
    println!("cargo:rerun-if-env-changed=PATH");
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path).filter(|dir| dir.is_dir()) {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }
}

/// Whether `npm ci` must run: no `node_modules`, or the lockfile is newer than the install.
fn needs_install(frontend: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    // npm writes node_modules/.package-lock.json at the end of every install.
    let installed = modified(&frontend.join("node_modules/.package-lock.json"));
    let locked = modified(&frontend.join("package-lock.json"));
    match (installed, locked) {
        (Some(installed), Some(locked)) => locked > installed,
        _ => true,
    }
}

/// Runs npm in `frontend`, passing its output on to cargo's log of this script (`-vv` shows it);
/// the error is the exit status and the last line npm wrote.
fn run_npm(frontend: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("npm")
        .args(args)
        .current_dir(frontend)
        .output()
        .map_err(|error| error.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stdout}{stderr}");
    if output.status.success() {
        return Ok(());
    }
    let last = stderr
        .lines()
        .chain(stdout.lines())
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or("no output");
    Err(format!("{}: {}", output.status, last.trim()))
}
