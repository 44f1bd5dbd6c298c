//! The encoder settings and caps a host chooses for its CPU budget, and how `format=auto`
//! steps down under them.

use crate::{negotiate, OutputFormat};

/// Encoder settings a host chooses for its CPU budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// libaom's speed (cpu-used) for AVIF in all-intra mode, 0 (slowest, smallest) to 9
    /// (fastest); 10 is the same as 9. Default [`Policy::DEFAULT_AVIF_SPEED`].
    pub avif_speed: u8,
    /// libwebp method, 0 (fastest) to 6 (smallest). Default 4.
    pub webp_method: u8,
    /// Quality when the spec gives none, for every lossy format (JPEG, WebP, AVIF): Refract's
    /// `quality=` is one perceptual scale ([`crate::quality`]). Default 85.
    pub default_quality: u8,
    /// Largest output area, in pixels, that `format=auto` encodes as AVIF; past it, auto picks
    /// WebP (or the JPEG/PNG fallback when the client does not list WebP). AVIF's encode time
    /// grows with the area, and a host with a CPU budget per request (the edge) caps it.
    /// Default: no cap. An explicit `format=avif` is not affected; hosts check it themselves.
    pub max_avif_pixels: u64,
    /// Largest estimated CPU time of one transform, in reference milliseconds ([`cost`]).
    /// `format=auto` steps down (AVIF → WebP → JPEG/PNG) to fit under it; any other request
    /// over it is refused with `too_costly` before decoding. Default
    /// [`Policy::DEFAULT_MAX_CPU_MS`]; `u64::MAX` turns the cap off.
    pub max_cpu_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            avif_speed: Policy::DEFAULT_AVIF_SPEED,
            webp_method: 4,
            default_quality: 85,
            max_avif_pixels: u64::MAX,
            max_cpu_ms: Policy::DEFAULT_MAX_CPU_MS,
        }
    }
}

impl Policy {
    /// libaom all-intra speed of native hosts, chosen by measurement (BENCHMARKS.md, "AVIF's
    /// speed"): at equal SSIMULACRA2, speed 6 makes AVIF 14–20% smaller than speed 9 (which is
    /// no smaller than WebP) for about 7× its encode CPU, still well under sharp's speed 5;
    /// speeds 7 and 8 save 8–10% for 4–6×. The edge, with a CPU limit per request, sets 9.
    pub const DEFAULT_AVIF_SPEED: u8 = 6;
    /// Twenty seconds of one core on the reference machine, inside the default request
    /// deadline (30 s): AVIF at speed 6 up to about 7 MP (3500×2000), lossy WebP and JPEG at
    /// every size the pixel limits allow. docs/cost.md has the measurements.
    pub const DEFAULT_MAX_CPU_MS: u64 = 20_000;

    /// The settings a request runs with: under `compression=fast`, each encoder's quickest
    /// (WebP method 0, AVIF speed 9).
    pub fn for_spec(&self, spec: &crate::Spec) -> Policy {
        match spec.compression {
            crate::spec::Compression::Default => *self,
            crate::spec::Compression::Fast => Policy {
                webp_method: 0,
                avif_speed: 9,
                ..*self
            },
        }
    }

    /// What `format=auto` steps down to from `pref` when `pref` costs too much: AVIF → WebP
    /// (when the client lists it and this build has it) → the JPEG/PNG fallback.
    pub fn step_down(accept: &str, pref: negotiate::Preference) -> Option<negotiate::Preference> {
        use negotiate::Preference as P;
        match pref {
            P::Avif
                if (OutputFormat::Webp { lossless: false }).available()
                    && negotiate::accepts(accept, "image/webp") =>
            {
                Some(P::Webp)
            }
            P::Avif | P::Webp => Some(P::Fallback),
            P::Fallback => None,
        }
    }

    /// What `format=auto` picks for this `Accept` header and an output of `canvas` pixels:
    /// [`negotiate::preference`], with AVIF stepped down to WebP past
    /// [`Policy::max_avif_pixels`]. [`VariantKey`] counts the cap and the step-down in its
    /// fingerprint, so hosts with different caps never share an ETag for different bytes.
    pub fn auto_preference(&self, accept: &str, canvas: (u32, u32)) -> negotiate::Preference {
        let pref = negotiate::preference(accept);
        let area = u64::from(canvas.0) * u64::from(canvas.1);
        if pref != negotiate::Preference::Avif || area <= self.max_avif_pixels {
            return pref;
        }
        Policy::step_down(accept, pref).unwrap_or(pref)
    }
}
