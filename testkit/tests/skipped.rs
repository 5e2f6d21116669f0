//! The closing list of `cargo test --workspace`: what the run skipped and why. cargo runs this
//! binary last (see `Cargo.toml`); it has no libtest harness, so nothing captures its output.

fn main() {
    // Listing (`cargo test -- --list`, or cargo-nextest discovering tests): there is no test here.
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let skips = livesurgery_testkit::take_this_run()
        .expect("reading the skips of this run (target/…/skipped-tests)");
    print!("\n{}", livesurgery_testkit::summary(&skips));
}
