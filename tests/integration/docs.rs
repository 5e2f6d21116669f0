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
