//! The README says what the code does.

#[test]
fn the_readme_renders_the_permission_table_of_the_domain() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = livesurgery_domain::permissions::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's permission table is out of date; it should read:\n{table}"
    );
}
