//! The crash-test hook: `REFRACT_LIFECYCLE_FAULT=<step>` makes the process SIGKILL itself when a
//! move reaches that step (`claimed`, `copied`, `switched`, `cleaned`), so tests can kill a
//! sweep at every step and check that the next one finishes it.

/// SIGKILLs this process at `step` when `REFRACT_LIFECYCLE_FAULT` names it.
pub fn point(step: &str) {
    if std::env::var("REFRACT_LIFECYCLE_FAULT").is_ok_and(|s| s == step) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // SIGKILL cannot be caught; should `kill` be missing, stop just as abruptly.
        std::process::abort();
    }
}
