//! HTTP handlers, one file per concern.

pub mod admin;
pub mod delivery;
pub mod upload;
