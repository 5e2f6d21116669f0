//! The README says what the code does.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn the_readme_renders_the_permission_table_of_the_domain() {
    let table = livesurgery_domain::permissions::markdown_table();
    assert!(
        readme().contains(&table),
        "README.md's permission table is out of date; it should read:\n{table}"
    );
}

#[test]
fn the_readme_renders_the_endpoint_table_of_the_domain() {
    let readme = readme();
    let table = livesurgery_domain::endpoints::markdown_table();
    let section = readme
        .split_once("### Who may call which endpoint\n")
        .map(|(_, rest)| rest)
        .expect("README.md has a section \"### Who may call which endpoint\"");
    assert!(
        section.contains(&table),
        "README.md's endpoint table is out of date; under \"### Who may call which endpoint\" \
         it should read:\n{table}"
    );
}

#[test]
fn the_readme_gives_every_global_and_serve_setting_with_its_variable_and_default() {
    use clap::CommandFactory;
    let readme = readme();
    let cli = livesurgery::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    for arg in cli.get_arguments().chain(serve.get_arguments()) {
        let Some(long) = arg.get_long() else {
            continue;
        };
        let row = readme
            .lines()
            .find(|line| line.starts_with('|') && line.contains(&format!("`--{long}`")))
            .unwrap_or_else(|| panic!("README.md's Configuration table has no row for --{long}"));
        if let Some(env) = arg.get_env() {
            let env = format!("`{}`", env.to_string_lossy());
            assert!(row.contains(&env), "the row of --{long} names {env}: {row}");
        }
        let default_cell = row.trim_end_matches('|').rsplit('|').next().unwrap_or("");
        for default in arg.get_default_values() {
            let default = default.to_string_lossy();
            assert!(
                default_cell.contains(&*default),
                "the row of --{long} gives its default {default}: {row}"
            );
        }
    }
}

/// What `ops/THREAT_MODEL.md` cites as proof, in backticks: `path::test name` (a Rust test, or a
/// Vitest test of the web app) or a script under `.ci/`.
fn threat_model_citations(text: &str) -> Vec<(String, Option<String>)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| match code.split_once("::") {
            Some((path, name)) if [".rs", ".ts", ".tsx"].iter().any(|ext| path.ends_with(ext)) => {
                Some((path.to_owned(), Some(name.to_owned())))
            }
            None if code.starts_with(".ci/") && code.ends_with(".sh") => {
                Some((code.to_owned(), None))
            }
            _ => None,
        })
        .collect()
}

/// Whether `source` (the file at `path`) defines the test `name`.
fn defines_test(path: &str, source: &str, name: &str) -> bool {
    if path.ends_with(".rs") {
        source.lines().any(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
            let line = line.strip_prefix("async ").unwrap_or(line);
            line.strip_prefix("fn ")
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with('(') || rest.starts_with('<'))
        })
    } else {
        // Vitest: `it("name", …)` or `test("name", …)`.
        ["it(\"", "test(\""]
            .iter()
            .any(|opening| source.contains(&format!("{opening}{name}\"")))
    }
}

#[test]
fn threat_model_names_only_tests_that_exist() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = std::fs::read_to_string(format!("{root}/ops/THREAT_MODEL.md"))
        .expect("ops/THREAT_MODEL.md exists");
    let cited = threat_model_citations(&model);
    assert!(
        cited.len() >= 20,
        "the threat model cites its tests; found {}",
        cited.len()
    );
    let mut missing = Vec::new();
    for (path, name) in &cited {
        let source = std::fs::read_to_string(format!("{root}/{path}"));
        let found = match (&source, name) {
            (Ok(source), Some(name)) => defines_test(path, source, name),
            (Ok(_), None) => true,
            (Err(_), _) => false,
        };
        if !found {
            missing.push(format!("{path}::{}", name.as_deref().unwrap_or("")));
        }
    }
    assert!(
        missing.is_empty(),
        "ops/THREAT_MODEL.md cites tests that do not exist: {missing:#?}"
    );
}

#[test]
fn every_threat_in_the_threat_model_names_its_test_or_says_why_not() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = std::fs::read_to_string(format!("{root}/ops/THREAT_MODEL.md"))
        .expect("ops/THREAT_MODEL.md exists");
    // Rows of the STRIDE tables: `| id | threat | control | test |`, ids like `T-REST-3`.
    let rows: Vec<&str> = model
        .lines()
        .filter(|line| line.starts_with("| T-"))
        .collect();
    assert!(
        rows.len() >= 20,
        "the threat model's STRIDE tables have rows; found {}",
        rows.len()
    );
    let untested: Vec<&&str> = rows
        .iter()
        .filter(|row| {
            let test_cell = row.trim_end_matches('|').rsplit('|').next().unwrap_or("");
            threat_model_citations(test_cell).is_empty() && !test_cell.contains("not tested:")
        })
        .collect();
    assert!(
        untested.is_empty(),
        "threats with neither a test nor a reason: {untested:#?}"
    );
}
