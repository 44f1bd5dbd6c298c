//! Tiered storage of variants: hot (memory), warm (a local directory), cold (an object store
//! under a variants prefix). See `docs/storage.md`.

pub mod blob;
pub mod warm;
