//! The target-dependent code paths a variant's fingerprint names ([`pixel_paths`]).

/// The code paths this build takes where targets round differently, e.g.
/// `jpeg-decoder:ssse3,qcms:avx` natively on x86, `jpeg-decoder:simd128,qcms:scalar` in the edge
/// worker. jpeg-decoder's SSSE3, wasm SIMD and portable IDCT and colour conversion give
/// slightly different pixels, and so do qcms's AVX, SSE2 and portable transforms (measured:
/// the same JPEG decodes to other bytes in the worker than natively). The resizer, the PNG,
/// GIF and WebP decoders and the PNG and WebP encoders are exact on every target.
/// `libjpeg-turbo` is named where it decodes JPEG (native builds with the `turbojpeg` feature):
/// its SIMD code gives the same bytes as its C code (measured with `JSIMD_FORCENONE`), but not
/// jpeg-decoder's.
pub fn pixel_paths() -> String {
    let turbo = if cfg!(all(feature = "turbojpeg", not(target_arch = "wasm32"))) {
        ",libjpeg-turbo"
    } else {
        ""
    };
    format!(
        "jpeg-decoder:{}{turbo},qcms:{}",
        jpeg_decoder_path(),
        qcms_path()
    )
}

fn jpeg_decoder_path() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("ssse3") {
            return "ssse3";
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return "simd128";
    }
    #[allow(unreachable_code)]
    "scalar"
}

fn qcms_path() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("avx") {
            return "avx";
        }
        if std::is_x86_feature_detected!("sse2") {
            return "sse2";
        }
    }
    "scalar"
}
