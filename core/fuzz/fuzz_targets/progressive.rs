//! Refract's own progressive-JPEG decoder (`decode/progressive`, used when a progressive file
//! is shrunk on load) on arbitrary bytes. The first input byte picks the shrink (2, 4 or 8);
//! the rest is the file. Files that decoder does not read are skipped (jpeg-decoder gets them,
//! and the `transform` target fuzzes it). It must never panic, must allocate no more than its
//! accounting says (the 4 MP pixel limit keeps that small) and, when it decodes, must return
//! exactly the scaled size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refract_core::decode::{decode, progressive, Header, InputFormat};
use refract_core::Limits;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let shrink = [2, 4, 8][usize::from(selector % 3)];
    let limits = Limits {
        max_input_pixels: 4_000_000,
        ..Limits::default()
    };
    let Ok(Some(planned)) = progressive::allocation(bytes, shrink) else {
        return;
    };
    assert!(planned.peak() > 0);
    // The header the core's probe would give matters only to other decoders: this one reads
    // its own frame header, and decode() sends progressive files shrunk on load to it.
    let header = Header {
        format: InputFormat::Jpeg,
        width: 1,
        height: 1,
        orientation: Default::default(),
        icc: None,
        exif: None,
        progressive: true,
        progressive_scaled: true,
        dct_blocks: 0,
        bytes_per_pixel: 3,
        alpha: false,
        animation: None,
    };
    if let Ok(d) = decode(bytes, &header, shrink, &limits) {
        assert_eq!(d.shrink, shrink);
        assert!(d.image.width() > 0 && d.image.height() > 0);
    }
});
