//! Failpoints: named step boundaries inside a request where a crash test stops the daemon.
//!
//! In debug builds (the builds tests run), setting `TILLPASS_FAILPOINT=<name>` makes the
//! request that reaches the point `<name>` log `failpoint reached` and wait there, never
//! to finish, so the test can kill the process (SIGKILL) at exactly that boundary and
//! show what a restart finds. Release builds compile every point to nothing.
//!
//! Names are `<request>.<step>`, e.g. `tender.recorded`: see `sessions::routes`.

/// The environment variable that names the failpoint to stop at.
pub const VAR: &str = "TILLPASS_FAILPOINT";

/// Marks the step `step` of the request `request`.
#[cfg(debug_assertions)]
pub fn hit(request: &str, step: &str) {
    let Ok(wanted) = std::env::var(VAR) else {
        return;
    };
    if wanted.split_once('.') != Some((request, step)) {
        return;
    }
    tracing::warn!(failpoint = %wanted, "failpoint reached: waiting to be killed");
    loop {
        std::thread::park();
    }
}

/// Marks the step `step` of the request `request` (nothing in release builds).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_request: &str, _step: &str) {}
