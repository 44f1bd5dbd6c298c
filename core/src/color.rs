//! Colour management: embedded ICC profiles are converted to sRGB (with qcms), and the output
//! carries no profile, so every browser shows the same colours. Profiles qcms cannot use
//! (broken, or not RGB/CMYK) are reported as [`Icc::Ignored`] rather than failing the request.

use image::DynamicImage;

/// What happened to the input's ICC profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icc {
    /// The input had no profile (sRGB assumed).
    None,
    /// The profile was sRGB already; pixels untouched.
    AlreadySrgb,
    /// Pixels were converted from the profile to sRGB.
    ConvertedToSrgb,
    /// The profile could not be used; pixels were kept as they are.
    Ignored,
}

impl Icc {
    pub fn as_str(self) -> &'static str {
        match self {
            Icc::None => "none",
            Icc::AlreadySrgb => "srgb",
            Icc::ConvertedToSrgb => "converted-to-srgb",
            Icc::Ignored => "ignored",
        }
    }
}

fn srgb() -> Box<qcms::Profile> {
    let mut p = qcms::Profile::new_sRGB();
    p.precache_output_transform();
    p
}

/// Converts RGB or RGBA pixels from `icc` to sRGB in place.
pub fn to_srgb(image: &mut DynamicImage, icc: &[u8]) -> Icc {
    let Some(src) = qcms::Profile::new_from_slice(icc, false) else {
        return Icc::Ignored;
    };
    if src.is_sRGB() {
        return Icc::AlreadySrgb;
    }
    let (ty, data): (qcms::DataType, &mut [u8]) = match image {
        DynamicImage::ImageRgb8(img) => (qcms::DataType::RGB8, img.as_mut()),
        DynamicImage::ImageRgba8(img) => (qcms::DataType::RGBA8, img.as_mut()),
        _ => return Icc::Ignored,
    };
    match qcms::Transform::new(&src, &srgb(), ty, qcms::Intent::default()) {
        Some(t) => {
            t.apply(data);
            Icc::ConvertedToSrgb
        }
        None => Icc::Ignored,
    }
}

/// Converts CMYK pixels (as decoded from a JPEG, 0 = no ink) to sRGB. Uses the embedded CMYK
/// profile when there is a usable one, the naive formula otherwise, and says which.
pub fn cmyk_to_rgb(cmyk: &[u8], icc: Option<&[u8]>) -> (Vec<u8>, Icc) {
    let mut rgb = vec![0u8; cmyk.len() / 4 * 3];
    let transform = icc
        .and_then(|p| qcms::Profile::new_from_slice(p, false))
        .and_then(|src| {
            qcms::Transform::new_to(
                &src,
                &srgb(),
                qcms::DataType::CMYK,
                qcms::DataType::RGB8,
                qcms::Intent::default(),
            )
        });
    let outcome = match (&transform, icc) {
        (Some(_), _) => Icc::ConvertedToSrgb,
        (None, Some(_)) => Icc::Ignored,
        (None, None) => Icc::None,
    };
    match transform {
        Some(t) => t.convert(cmyk, &mut rgb),
        None => {
            for (px, out) in cmyk.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
                let k = 255 - u32::from(px[3]);
                for (o, &c) in out.iter_mut().zip(&px[..3]) {
                    *o = ((255 - u32::from(c)) * k / 255) as u8;
                }
            }
        }
    }
    (rgb, outcome)
}
