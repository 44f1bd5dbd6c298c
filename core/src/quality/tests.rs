use super::*;

const MAPPED: [OutputFormat; 2] = [OutputFormat::Webp { lossless: false }, OutputFormat::Avif];

#[test]
fn the_tables_are_knots_every_five_from_20_with_the_ends() {
    for format in MAPPED {
        let q: Vec<u8> = knots(format).iter().map(|k| k.0).collect();
        let expected: Vec<u8> = std::iter::once(1).chain((20..=100).step_by(5)).collect();
        assert_eq!(q, expected, "{format:?}");
    }
}

#[test]
fn the_mapping_rises_with_quality_and_keeps_the_ends() {
    for format in MAPPED {
        let mut last = -1.0f32;
        for q in 1..=100 {
            let e = encoder_quality(format, q);
            assert!((0.0..=100.0).contains(&e), "{format:?} {q} → {e}");
            assert!(e >= last, "{format:?}: {q} → {e} falls below {last}");
            last = e;
        }
        // quality=100 is the best the encoder can do, quality=1 its lowest.
        assert_eq!(encoder_quality(format, 100), 100.0, "{format:?}");
        assert_eq!(encoder_quality(format, 1), 0.0, "{format:?}");
        // Out of range clamps.
        assert_eq!(encoder_quality(format, 0), encoder_quality(format, 1));
        assert_eq!(encoder_quality(format, 255), 100.0);
        // Each knot is hit exactly, and the way between two knots is a straight line.
        for pair in knots(format).windows(2) {
            let ((q0, e0), (q1, e1)) = (pair[0], pair[1]);
            assert_eq!(encoder_quality(format, q0), e0);
            assert_eq!(encoder_quality(format, q1), e1);
            let step = (e1 - e0) / f32::from(q1 - q0);
            for q in q0..q1 {
                let expected = e0 + step * f32::from(q - q0);
                let got = encoder_quality(format, q);
                assert!(
                    (got - expected).abs() < 1e-3,
                    "{format:?} {q}: {got} ≠ {expected}"
                );
            }
        }
    }
}

#[test]
fn jpeg_is_the_reference_scale_and_other_formats_keep_it() {
    for format in [
        OutputFormat::Jpeg { progressive: false },
        OutputFormat::Jpeg { progressive: true },
        OutputFormat::Png,
    ] {
        assert!(knots(format).is_empty());
        for q in 1..=100u8 {
            assert_eq!(encoder_quality(format, q), f32::from(q));
        }
    }
}
