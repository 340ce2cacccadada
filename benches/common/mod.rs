//! What the benchmarks share: the shipped config pointed at a bench's files, medians.

use std::path::Path;

/// The shipped default config with its paths pointed at the bench's CRM, register and
/// store: the organisations job exactly as a new user gets it.
pub fn write_config(work: &Path, register: &Path, store_url: &str) {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/refsync.toml"))
            .expect("shipped config");
    let text = shipped
        .replace("sqlite://var/refsync.db", store_url)
        .replace(
            "sqlite://var/demo-crm.db",
            &format!("sqlite://{}", work.join("crm.db").display()),
        )
        .replace("demo_data = true", "demo_data = false")
        .replace(
            "config/demo/reference-organisations.csv",
            &register.display().to_string(),
        );
    std::fs::write(work.join("refsync.toml"), text).expect("write config");
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
