//! Tone and colour adjustments: `brightness`, `contrast`, `gamma` and `saturation`, with
//! Cloudflare's meaning: each is a factor, 1 is no change. For brightness, contrast and gamma a
//! factor of 0 is ignored (as Cloudflare documents); saturation 0 makes the image grey.

use super::parse::parse_float;
use crate::Error;

/// The largest factor accepted for every adjustment.
pub const MAX_FACTOR: f32 = 10.0;

/// The four adjustments; `None` is no change. [`crate::adjust::apply`] applies them to pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Adjust {
    /// Multiplies every channel: 0.5 is half as bright, 2 twice as bright. `(0, 10]`.
    pub brightness: Option<f32>,
    /// Stretches channels away from mid-grey (or towards it below 1). `(0, 10]`.
    pub contrast: Option<f32>,
    /// Exposure: a channel value `v` in 0–1 becomes `v^(1/gamma)`, so 2 lightens and 0.5
    /// darkens. `(0, 10]`.
    pub gamma: Option<f32>,
    /// Moves each pixel away from (or towards) its grey of the same luma: 0 is greyscale, 2
    /// twice as saturated. `[0, 10]`.
    pub saturation: Option<f32>,
}

impl Adjust {
    /// The option names, in canonical order.
    pub const KEYS: [&'static str; 4] = ["brightness", "contrast", "gamma", "saturation"];

    /// Whether every adjustment is "no change".
    pub fn is_identity(&self) -> bool {
        *self == Adjust::default()
    }

    /// Parses one of [`Adjust::KEYS`]; `false` when `key` is not one of them.
    pub(super) fn set(&mut self, key: &'static str, value: &str) -> Result<bool, Error> {
        let slot = match key {
            "brightness" => &mut self.brightness,
            "contrast" => &mut self.contrast,
            "gamma" => &mut self.gamma,
            "saturation" => &mut self.saturation,
            _ => return Ok(false),
        };
        let v = parse_float(
            key,
            value,
            0.0,
            MAX_FACTOR,
            "a factor from 0 to 10 (1 = no change)",
        )?;
        // 1 is no change; 0 is ignored, except for saturation, where it means grey.
        let ignored = v == 1.0 || (v == 0.0 && key != "saturation");
        *slot = (!ignored).then_some(v);
        Ok(true)
    }

    /// Appends the canonical `key=value` parts of the adjustments that change something.
    pub(super) fn write_parts(&self, parts: &mut Vec<String>) {
        let values = [self.brightness, self.contrast, self.gamma, self.saturation];
        for (key, value) in Adjust::KEYS.iter().zip(values) {
            if let Some(v) = value {
                parts.push(format!("{key}={v}"));
            }
        }
    }
}
