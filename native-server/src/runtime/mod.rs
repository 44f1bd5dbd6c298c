//! What runs the work, not what the work is: the CPU pool, the memory budget and single-flight work on
//! transforms, the background runner (sweeper, access-time flusher, tier writes), clocks, rate-limit
//! buckets, and the crash-test hook. Nothing here knows about images, HTTP or storage.

pub mod background;
pub mod clock;
pub mod cpu;
pub mod fault;
pub mod flights;
pub mod limit;
pub mod memory;
pub mod pool;
#[cfg(test)]
mod test_util;
