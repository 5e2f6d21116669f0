//! Skipped tests, made visible: a test whose prerequisite (PostgreSQL, aiortc, Chromium, Node.js,
//! ffmpeg, s3s-fs, coturn) is missing says so loudly, is recorded, and `tests/skipped.rs`, the
//! last test binary of `cargo test --workspace`, closes the run with the list of what it skipped.
//! Under `LIVESURGERY_REQUIRE_…=1` (as CI sets them) a missing prerequisite fails the test instead.
//!
//! All test binaries of one `cargo test` run are children of the same cargo process, so a run's
//! records go to one file named after that parent (its id and start time, so that a reused id is
//! not taken for a run killed before its summary), one line appended per write: parallel tests and
//! binaries never interleave.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One skipped test: where it is, what was missing and the command that installs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skip {
    /// The test binary (`integration`, `read_models`, …).
    pub binary: String,
    /// The test's path as `cargo test` filters match it.
    pub test: String,
    pub missing: String,
    pub install: String,
}

/// Whether `test` can run, given what is `missing` on this machine (`None`: nothing). When
/// something is, the test fails if the environment variable `require` is `1` (as CI sets it), and
/// otherwise is [`skip`]ped: the caller should return.
pub fn prerequisites_met(
    test: &str,
    missing: Option<String>,
    require: &str,
    install: &str,
) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {missing}, and {require}=1: run `{install}`"
    );
    skip(test, &missing, install);
    false
}

/// Says loudly that `test` (or the part of it that needs what is `missing`) does not run, and
/// records it for the run's closing list. Prefer [`prerequisites_met`], which also enforces CI's
/// `LIVESURGERY_REQUIRE_…`.
pub fn skip(test: &str, missing: &str, install: &str) {
    println!("\n!!!!!!!! {test}: SKIPPED: {missing} ({install}) !!!!!!!!\n");
    let skip = Skip {
        binary: binary_name(),
        test: current_test().unwrap_or_else(|| test.to_owned()),
        missing: missing.to_owned(),
        install: install.to_owned(),
    };
    // The closing list must not claim that nothing was skipped.
    append(&records_dir(), &run_key(), &skip)
        .expect("recording the skip for the run's closing list (target/…/skipped-tests)");
}

/// Takes this run's records (removing its file), after removing the files of runs that ended
/// without a summary (killed, or a single target run by `cargo test --test …`).
pub fn take_this_run() -> io::Result<Vec<Skip>> {
    let dir = records_dir();
    remove_stale(&dir, &run_key());
    take(&dir, &run_key())
}

/// The closing lines of a run: `skipped in this run: none`, or the count and, per missing
/// prerequisite, the tests it skipped.
pub fn summary(skips: &[Skip]) -> String {
    let mut skips = skips.to_vec();
    skips.sort_by(|a, b| {
        (&a.missing, &a.install, &a.binary, &a.test)
            .cmp(&(&b.missing, &b.install, &b.binary, &b.test))
    });
    skips.dedup();
    if skips.is_empty() {
        return "skipped in this run: none\n".to_owned();
    }
    let tests = if skips.len() == 1 { "test" } else { "tests" };
    let mut out = format!(
        "skipped in this run: {} {tests}, as something they need is missing here (CI requires it):\n",
        skips.len()
    );
    for group in skips.chunk_by(|a, b| (&a.missing, &a.install) == (&b.missing, &b.install)) {
        let first = &group[0];
        let tests = if group.len() == 1 { "test" } else { "tests" };
        out += &format!(
            "  {} ({}): {} {tests}\n",
            first.missing,
            first.install,
            group.len()
        );
        for binary in group.chunk_by(|a, b| a.binary == b.binary) {
            let names: Vec<&str> = binary.iter().map(|skip| skip.test.as_str()).collect();
            out += &wrapped(&format!("    {}: ", binary[0].binary), &names);
        }
    }
    out
}

/// `names` after `lead`, comma-separated, in lines of about 100 characters.
fn wrapped(lead: &str, names: &[&str]) -> String {
    let indent = " ".repeat(6);
    let mut out = String::new();
    let mut line = lead.to_owned();
    for (i, name) in names.iter().enumerate() {
        let piece = if i + 1 < names.len() {
            format!("{name}, ")
        } else {
            (*name).to_owned()
        };
        if line.trim().len() > lead.trim().len() && line.len() + piece.len() > 100 {
            out += line.trim_end();
            out += "\n";
            line.clone_from(&indent);
        }
        line += &piece;
    }
    out + &line + "\n"
}

/// The running test, from its thread's name (libtest names each test's thread after it).
fn current_test() -> Option<String> {
    let name = std::thread::current().name()?.to_owned();
    (name != "main" && !name.starts_with("tokio-")).then_some(name)
}

/// This test binary's name, without cargo's hash suffix.
fn binary_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

/// `target/<profile>/skipped-tests`: beside `deps/`, where every test binary of the run lives.
fn records_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("skipped-tests")))
        .unwrap_or_else(|| std::env::temp_dir().join("livesurgery-skipped-tests"))
}

/// The run this process belongs to: its parent (`cargo test`), by id and start time.
fn run_key() -> String {
    let parent = std::os::unix::process::parent_id();
    format!("{parent}-{}", start_time(parent).unwrap_or_default())
}

/// When process `pid` started (clock ticks since boot), where `/proc` tells.
fn start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the fields after the command's closing parenthesis start at field 3.
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(19).map(str::to_owned)
}

fn records_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.tsv"))
}

fn append(dir: &Path, key: &str, skip: &Skip) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let clean = |field: &str| field.replace(['\t', '\n', '\r'], " ");
    let line = format!(
        "{}\t{}\t{}\t{}\n",
        clean(&skip.binary),
        clean(&skip.test),
        clean(&skip.missing),
        clean(&skip.install)
    );
    // One write of one short line to a file opened for appending: atomic on local filesystems.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(records_file(dir, key))?
        .write_all(line.as_bytes())
}

fn take(dir: &Path, key: &str) -> io::Result<Vec<Skip>> {
    let file = records_file(dir, key);
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    fs::remove_file(&file)?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t').map(str::to_owned);
            Some(Skip {
                binary: fields.next()?,
                test: fields.next()?,
                missing: fields.next()?,
                install: fields.next()?,
            })
        })
        .collect())
}

/// Removes the records of runs whose cargo is gone (or, where `/proc` cannot tell, a day old).
fn remove_stale(dir: &Path, current: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let day_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(key) = path.file_stem().and_then(|stem| stem.to_str()) else {
            continue;
        };
        if key == current {
            continue;
        }
        let alive = match key.split_once('-') {
            Some((pid, start)) if !start.is_empty() => pid
                .parse()
                .is_ok_and(|pid| start_time(pid).as_deref() == Some(start)),
            _ => entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified > day_ago),
        };
        if !alive {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(test: &str, missing: &str) -> Skip {
        Skip {
            binary: "integration".into(),
            test: test.into(),
            missing: missing.into(),
            install: "bash .ci/install-x.sh".into(),
        }
    }

    #[test]
    fn records_appended_from_parallel_threads_are_taken_whole_and_once() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            for n in 0..8 {
                let dir = dir.path();
                scope.spawn(move || {
                    for m in 0..50 {
                        append(dir, "1-2", &skip(&format!("t{n}_{m}"), "no\tx")).unwrap();
                    }
                });
            }
        });
        let taken = take(dir.path(), "1-2").unwrap();
        assert_eq!(taken.len(), 400);
        assert!(
            taken
                .iter()
                .all(|s| s.missing == "no x" && s.install.ends_with(".sh"))
        );
        assert!(take(dir.path(), "1-2").unwrap().is_empty());
    }

    #[test]
    fn the_records_of_a_run_whose_cargo_is_gone_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let alive = format!("{me}-{}", start_time(me).unwrap());
        // No process has this id (above Linux's largest), nor our id with another start time.
        for key in [alive.as_str(), "999999999-1", &format!("{me}-1"), "current"] {
            append(dir.path(), key, &skip("t", "m")).unwrap();
        }
        remove_stale(dir.path(), "current");
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [format!("{alive}.tsv"), "current.tsv".to_owned()]);
    }

    #[test]
    fn the_summary_counts_the_skips_and_groups_them_by_what_is_missing() {
        assert_eq!(summary(&[]), "skipped in this run: none\n");
        let skips = [
            skip("sfu::aiortc::b", "aiortc not installed"),
            skip("api::a", "no PostgreSQL"),
            skip("sfu::aiortc::a", "aiortc not installed"),
            skip("sfu::aiortc::a", "aiortc not installed"),
        ];
        assert_eq!(
            summary(&skips),
            "skipped in this run: 3 tests, as something they need is missing here (CI requires it):\n\
             \x20 aiortc not installed (bash .ci/install-x.sh): 2 tests\n\
             \x20   integration: sfu::aiortc::a, sfu::aiortc::b\n\
             \x20 no PostgreSQL (bash .ci/install-x.sh): 1 test\n\
             \x20   integration: api::a\n"
        );
    }

    #[test]
    fn long_lists_wrap() {
        let names: Vec<String> = (0..30).map(|n| format!("module::test_{n:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let text = wrapped("    integration: ", &names);
        assert!(text.lines().count() > 3);
        assert!(text.lines().all(|line| line.len() <= 100), "{text}");
        assert_eq!(text.matches("module::").count(), 30);
    }

    #[test]
    fn a_skip_is_recorded_under_the_running_test_s_name() {
        assert_eq!(
            current_test().as_deref(),
            Some("tests::a_skip_is_recorded_under_the_running_test_s_name")
        );
    }

    /// cargo runs test binaries by package name, then doc tests: the closing list is last only if
    /// this package's name sorts last and no member has doc tests.
    #[test]
    fn the_closing_list_is_the_last_test_binary_of_the_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = workspace
            .split_once("members = [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .unwrap()
            .0;
        for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
            if member.is_empty() {
                continue;
            }
            let manifest = fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
            let name = manifest
                .lines()
                .find_map(|line| line.strip_prefix("name = "))
                .unwrap()
                .trim_matches('"');
            assert!(
                name <= env!("CARGO_PKG_NAME"),
                "{name} runs after {}",
                env!("CARGO_PKG_NAME")
            );
            let has_lib = root.join(member).join("src/lib.rs").is_file();
            assert!(
                !has_lib || manifest.contains("doctest = false"),
                "{name}'s doc tests would run after the closing list"
            );
        }
    }
}
