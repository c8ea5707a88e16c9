// `sqlx::migrate!` embeds migrations/ at compile time; without this, a new migration file does
// not rebuild the crate and an incremental build silently ships the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
