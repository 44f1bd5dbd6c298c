use super::*;

/// Every table: WebP, and AVIF at a fast and a slow libaom speed.
fn mapped() -> Vec<(OutputFormat, Policy)> {
    let at = |avif_speed| Policy {
        avif_speed,
        ..Policy::default()
    };
    vec![
        (OutputFormat::Webp { lossless: false }, at(9)),
        (OutputFormat::Avif, at(9)),
        (OutputFormat::Avif, at(6)),
    ]
}

#[test]
fn avif_has_one_table_for_speeds_7_to_9_and_one_below() {
    let table = |avif_speed| {
        knots(
            OutputFormat::Avif,
            &Policy {
                avif_speed,
                ..Policy::default()
            },
        )
    };
    assert_eq!(table(7), table(10));
    assert_eq!(table(0), table(6));
    assert_ne!(table(6), table(7));
}

#[test]
fn the_tables_are_knots_every_five_from_20_with_the_ends() {
    for (format, p) in mapped() {
        let q: Vec<u8> = knots(format, &p).iter().map(|k| k.0).collect();
        let expected: Vec<u8> = std::iter::once(1).chain((20..=100).step_by(5)).collect();
        assert_eq!(q, expected, "{format:?}");
    }
}

#[test]
fn the_mapping_rises_with_quality_and_keeps_the_ends() {
    for (format, p) in mapped() {
        let mut last = -1.0f32;
        for q in 1..=100 {
            let e = encoder_quality(format, q, &p);
            assert!((0.0..=100.0).contains(&e), "{format:?} {q} → {e}");
            assert!(e >= last, "{format:?}: {q} → {e} falls below {last}");
            last = e;
        }
        // quality=100 is the best the encoder can do, quality=1 its lowest.
        assert_eq!(encoder_quality(format, 100, &p), 100.0, "{format:?}");
        assert_eq!(encoder_quality(format, 1, &p), 0.0, "{format:?}");
        // Out of range clamps.
        assert_eq!(
            encoder_quality(format, 0, &p),
            encoder_quality(format, 1, &p)
        );
        assert_eq!(encoder_quality(format, 255, &p), 100.0);
        // Each knot is hit exactly, and the way between two knots is a straight line.
        for pair in knots(format, &p).windows(2) {
            let ((q0, e0), (q1, e1)) = (pair[0], pair[1]);
            assert_eq!(encoder_quality(format, q0, &p), e0);
            assert_eq!(encoder_quality(format, q1, &p), e1);
            let step = (e1 - e0) / f32::from(q1 - q0);
            for q in q0..q1 {
                let expected = e0 + step * f32::from(q - q0);
                let got = encoder_quality(format, q, &p);
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
        let p = Policy::default();
        assert!(knots(format, &p).is_empty());
        for q in 1..=100u8 {
            assert_eq!(encoder_quality(format, q, &p), f32::from(q));
        }
    }
}
