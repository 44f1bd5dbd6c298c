//! Client hints: `width=auto` and `dpr=auto` filled from the request's `Sec-CH-Width` /
//! `Width` and `Sec-CH-DPR` / `DPR` headers, rounded to a bounded set so that caches hold a
//! few variants per image, not one per pixel of every screen.

use super::Spec;

/// The widths `width=auto` resolves to: a hint is rounded up to the next one (capped at the
/// last). Next.js's default `imageSizes` and `deviceSizes`, so a page built with them and the
/// hints land on the same variants.
pub const AUTO_WIDTHS: [u32; 16] = [
    16, 32, 48, 64, 96, 128, 256, 384, 640, 750, 828, 1080, 1200, 1920, 2048, 3840,
];

/// The device pixel ratios `dpr=auto` resolves to (rounded up, capped at 2 as `dpr` is).
pub const AUTO_DPRS: [f32; 3] = [1.0, 1.5, 2.0];

/// The `Accept-CH` value hosts send, asking browsers for the hints Refract reads.
pub const ACCEPT_CH: &str = "Sec-CH-Width, Sec-CH-DPR, Width, DPR";

/// The client hints of one request. Malformed hints are ignored, as browsers' own are never so.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientHints {
    /// The image's layout width in device pixels.
    pub width: Option<u32>,
    pub dpr: Option<f32>,
}

impl ClientHints {
    /// Reads the hints through `header` (a case-insensitive header lookup). The `Sec-CH-`
    /// names win over the older ones.
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> ClientHints {
        let first = |names: [&str; 2]| names.into_iter().find_map(&header);
        let width = first(["sec-ch-width", "width"])
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|w| w.is_finite() && *w >= 1.0)
            .map(|w| w.ceil().min(f64::from(u32::MAX)) as u32);
        let dpr = first(["sec-ch-dpr", "dpr"])
            .and_then(|v| v.trim().parse::<f32>().ok())
            .filter(|d| d.is_finite() && *d > 0.0);
        ClientHints { width, dpr }
    }
}

impl Spec {
    /// Whether the response depends on client hints (so hosts send `Vary` for them).
    pub fn uses_client_hints(&self) -> bool {
        self.width_auto || self.dpr_auto
    }

    /// The request headers this spec's response varies on, besides `Accept`.
    pub fn hint_vary(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.width_auto {
            v.extend(["Sec-CH-Width", "Width"]);
        }
        if self.dpr_auto {
            v.extend(["Sec-CH-DPR", "DPR"]);
        }
        v
    }

    /// This spec with `width=auto` and `dpr=auto` replaced by the hints, rounded up to
    /// [`AUTO_WIDTHS`] and [`AUTO_DPRS`]. Without a hint, `auto` asks for nothing (the
    /// original's width, a ratio of 1). Specs without `auto` come back unchanged.
    pub fn with_client_hints(&self, hints: ClientHints) -> Spec {
        let mut s = self.clone();
        if s.width_auto {
            s.width_auto = false;
            s.width = hints.width.map(|w| round_up(&AUTO_WIDTHS, w));
        }
        if s.dpr_auto {
            s.dpr_auto = false;
            s.dpr = hints
                .dpr
                .map(|d| {
                    AUTO_DPRS
                        .into_iter()
                        .find(|a| *a >= d)
                        .unwrap_or(AUTO_DPRS[AUTO_DPRS.len() - 1])
                })
                .filter(|d| *d != 1.0);
        }
        s
    }
}

fn round_up(ladder: &[u32], v: u32) -> u32 {
    ladder
        .iter()
        .copied()
        .find(|w| *w >= v)
        .unwrap_or(ladder[ladder.len() - 1])
}
