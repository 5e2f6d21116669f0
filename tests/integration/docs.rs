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
