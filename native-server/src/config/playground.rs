//! `http.playground`: whether `refract serve` serves the playground page (`docs/playground.md`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `auto` (the default) serves the page when the image listener is on a loopback address, so
/// a server bound for the world does not show it unless told to; `on` and `off` say so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaygroundMode {
    #[default]
    Auto,
    On,
    Off,
}

impl PlaygroundMode {
    /// Whether the page is served by a listener on `listen`.
    pub fn enabled(self, listen: SocketAddr) -> bool {
        match self {
            PlaygroundMode::Auto => listen.ip().is_loopback(),
            PlaygroundMode::On => true,
            PlaygroundMode::Off => false,
        }
    }
}
