//! Helpers shared by the unit tests of this crate.

/// Yields to the runtime until `cond` holds, failing the test if it never does. Polling a
/// condition is synchronisation on state, not on time: no sleeps.
pub async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}
