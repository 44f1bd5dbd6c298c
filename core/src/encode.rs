//! Encoders: JPEG (jpeg-encoder, optimised Huffman tables), PNG (image/png), WebP (libwebp,
//! lossy or lossless; cargo feature `webp`) and AVIF (libaom, [`crate::avif`]; cargo feature
//! `avif`).

use image::DynamicImage;

use crate::{Error, Policy};

/// The encoded output's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Jpeg {
        progressive: bool,
    },
    Png,
    Webp {
        lossless: bool,
    },
    Avif,
    /// GIF, 256 colours per frame: animations asked for as GIF (`anim` encodes them).
    Gif,
    /// Metadata only (`format=json`).
    Json,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg { .. } => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp { .. } => "image/webp",
            OutputFormat::Avif => "image/avif",
            OutputFormat::Gif => "image/gif",
            OutputFormat::Json => "application/json",
        }
    }

    /// Short name, also used in cache keys: `jpeg`, `png`, `webp`, `avif`, `json`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg { .. } => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp { .. } => "webp",
            OutputFormat::Avif => "avif",
            OutputFormat::Gif => "gif",
            OutputFormat::Json => "json",
        }
    }

    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg { .. } => "jpg",
            other => other.name(),
        }
    }

    pub fn supports_alpha(self) -> bool {
        matches!(
            self,
            OutputFormat::Png | OutputFormat::Webp { .. } | OutputFormat::Avif | OutputFormat::Gif
        )
    }

    /// Whether this build can encode the format.
    pub fn available(self) -> bool {
        match self {
            OutputFormat::Webp { .. } => cfg!(feature = "webp"),
            OutputFormat::Avif => cfg!(feature = "avif"),
            _ => true,
        }
    }
}

/// Encodes RGB or RGBA pixels. `quality` is Refract's 1–100, the same perceptual quality in
/// every lossy format ([`crate::quality`]); `exif` (TIFF data) is written into JPEGs.
/// `graphic` says the source was lossless (PNG, GIF): text and sharp edges, where AVIF keeps
/// full-resolution chroma.
pub fn encode(
    img: &DynamicImage,
    format: OutputFormat,
    quality: u8,
    policy: &Policy,
    exif: Option<&[u8]>,
    graphic: bool,
) -> Result<Vec<u8>, Error> {
    let native = crate::quality::encoder_quality(format, quality, policy);
    // AVIF keeps full-resolution chroma where JPEG does (the AVIF table was measured so).
    let full_chroma = graphic || quality >= crate::quality::FULL_CHROMA_FROM;
    encode_native(img, format, native, policy, exif, full_chroma)
}

/// [`encode`] with `quality` on the encoder's own scale instead of Refract's: jpeg-encoder's
/// 1–100, libwebp's 0–100, libavif's 0–100 (rounded). `full_chroma` makes AVIF 4:4:4 (JPEG
/// keeps its own rule, 4:4:4 from 90, which is Refract's scale too). For measuring the scales
/// (`core/examples/quality_curves.rs`); hosts call [`encode`].
#[doc(hidden)]
pub fn encode_native(
    img: &DynamicImage,
    format: OutputFormat,
    quality: f32,
    policy: &Policy,
    exif: Option<&[u8]>,
    full_chroma: bool,
) -> Result<Vec<u8>, Error> {
    let quality = quality.clamp(0.0, 100.0);
    // In range after the clamp, so the casts are exact roundings.
    let whole = quality.round() as u8;
    match format {
        OutputFormat::Jpeg { progressive } => jpeg(img, whole.max(1), progressive, exif),
        OutputFormat::Png => png(img),
        OutputFormat::Webp { lossless } => webp(img, quality, lossless, policy),
        OutputFormat::Avif => avif(img, whole, policy, full_chroma),
        OutputFormat::Gif => crate::anim::gif_still(img),
        OutputFormat::Json => Err(Error::Internal {
            context: "encoding JSON as an image",
            source: None,
        }),
    }
}

fn dims_u16(img: &DynamicImage) -> Result<(u16, u16), Error> {
    match (u16::try_from(img.width()), u16::try_from(img.height())) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::OutputTooLarge {
            width: u64::from(img.width()),
            height: u64::from(img.height()),
            limit: u32::from(u16::MAX),
        }),
    }
}

fn jpeg(
    img: &DynamicImage,
    quality: u8,
    progressive: bool,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let (w, h) = dims_u16(img)?;
    let rgb;
    let data: &[u8] = match img {
        DynamicImage::ImageRgb8(i) => i.as_raw(),
        other => {
            rgb = other.to_rgb8();
            rgb.as_raw()
        }
    };
    let mut out = Vec::with_capacity(data.len() / 8);
    let mut enc = Encoder::new(&mut out, quality.clamp(1, 100));
    enc.set_optimized_huffman_tables(true);
    enc.set_progressive(progressive);
    if progressive {
        // A DC scan, then the AC coefficients in two spectral bands. jpeg-encoder has no
        // successive approximation, so each extra band costs bytes: its default of four made
        // 800 px photos 9–12% larger than baseline, two make them within 0.2%.
        enc.set_progressive_scans(2);
    }
    enc.set_sampling_factor(if quality >= crate::quality::FULL_CHROMA_FROM {
        SamplingFactor::F_1_1
    } else {
        SamplingFactor::F_2_2
    });
    if let Some(exif) = exif {
        enc.add_exif_metadata(exif)
            .map_err(|e| Error::internal("writing EXIF", e))?;
    }
    enc.encode(data, w, h, ColorType::Rgb)
        .map_err(|e| Error::internal("encoding JPEG", e))?;
    Ok(out)
}

fn png(img: &DynamicImage) -> Result<Vec<u8>, Error> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut out = Vec::new();
    let enc =
        PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive);
    enc.write_image(
        img.as_bytes(),
        img.width(),
        img.height(),
        img.color().into(),
    )
    .map_err(|e| Error::internal("encoding PNG", e))?;
    Ok(out)
}

#[cfg(feature = "webp")]
fn webp(
    img: &DynamicImage,
    quality: f32,
    lossless: bool,
    policy: &Policy,
) -> Result<Vec<u8>, Error> {
    let (w, h) = (img.width(), img.height());
    if w > 16_383 || h > 16_383 {
        return Err(Error::OutputTooLarge {
            width: u64::from(w),
            height: u64::from(h),
            limit: 16_383,
        });
    }
    let enc = match img {
        DynamicImage::ImageRgba8(i) => webp::Encoder::from_rgba(i.as_raw(), w, h),
        DynamicImage::ImageRgb8(i) => webp::Encoder::from_rgb(i.as_raw(), w, h),
        _ => {
            return Err(Error::Internal {
                context: "encoding WebP from a non-8-bit image",
                source: None,
            })
        }
    };
    let mut config = webp::WebPConfig::new().map_err(|()| Error::Internal {
        context: "configuring the WebP encoder",
        source: None,
    })?;
    config.lossless = i32::from(lossless);
    config.quality = if lossless { 75.0 } else { quality };
    config.method = i32::from(policy.webp_method.min(6));
    config.alpha_compression = i32::from(!lossless);
    let mem = enc.encode_advanced(&config).map_err(|e| Error::Internal {
        context: "encoding WebP",
        source: Some(format!("{e:?}").into()),
    })?;
    Ok(mem.to_vec())
}

#[cfg(not(feature = "webp"))]
fn webp(_: &DynamicImage, _: f32, _: bool, _: &Policy) -> Result<Vec<u8>, Error> {
    Err(Error::UnsupportedOutput { format: "WebP" })
}

#[cfg(feature = "avif")]
fn avif(
    img: &DynamicImage,
    quality: u8,
    policy: &Policy,
    full_chroma: bool,
) -> Result<Vec<u8>, Error> {
    crate::avif::encode(
        img,
        crate::avif::Settings {
            quality,
            speed: policy.avif_speed,
            full_chroma,
        },
    )
}

#[cfg(not(feature = "avif"))]
fn avif(_: &DynamicImage, _: u8, _: &Policy, _: bool) -> Result<Vec<u8>, Error> {
    Err(Error::UnsupportedOutput { format: "AVIF" })
}
