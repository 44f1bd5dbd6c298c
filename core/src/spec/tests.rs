use super::*;
use crate::Error;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `Spec::new()` with `f` applied.
fn with(f: impl FnOnce(&mut Spec)) -> Spec {
    let mut s = Spec::new();
    f(&mut s);
    s
}

/// An option that does not change the spec, used to force the auto-detecting parser into a
/// grammar and to check that a second option does not disturb the first.
fn filler(key: &str) -> &'static str {
    if key == "anim" {
        "metadata=none"
    } else {
        "anim=true"
    }
}

/// Parses `key=value` through every entry point and grammar, labelled for failure messages.
fn parse_every_way(key: &str, value: &str) -> Vec<(String, Result<Spec, Error>)> {
    let pair = format!("{key}={value}");
    let fill = filler(key);
    let query_two = format!("{pair}&{fill}");
    let query_two_rev = format!("{fill}&{pair}");
    let options_two = format!("{pair},{fill}");
    let options_two_rev = format!("{fill},{pair}");
    let question = format!("?{query_two}");
    vec![
        (format!("parse_query({pair:?})"), Spec::parse_query(&pair)),
        (
            format!("parse_query({query_two:?})"),
            Spec::parse_query(&query_two),
        ),
        (
            format!("parse_query({query_two_rev:?})"),
            Spec::parse_query(&query_two_rev),
        ),
        (
            format!("parse_options({pair:?})"),
            Spec::parse_options(&pair),
        ),
        (
            format!("parse_options({options_two:?})"),
            Spec::parse_options(&options_two),
        ),
        (
            format!("parse_options({options_two_rev:?})"),
            Spec::parse_options(&options_two_rev),
        ),
        (format!("parse({pair:?})"), Spec::parse(&pair)),
        (format!("parse({query_two:?})"), Spec::parse(&query_two)),
        (format!("parse({options_two:?})"), Spec::parse(&options_two)),
        (format!("parse({question:?})"), Spec::parse(&question)),
    ]
}

fn assert_valid(key: &str, value: &str, expected: &Spec) {
    for (label, result) in parse_every_way(key, value) {
        match result {
            Ok(spec) => {
                assert_eq!(&spec, expected, "{label}");
                // Whatever parses also round-trips through its canonical form.
                assert_eq!(
                    Spec::parse(&spec.to_string()).as_ref().ok(),
                    Some(&spec),
                    "{label}: canonical {:?} does not round-trip",
                    spec.to_string()
                );
                assert_eq!(
                    Spec::parse_query(&spec.to_query()).as_ref().ok(),
                    Some(&spec),
                    "{label}: query {:?} does not round-trip",
                    spec.to_query()
                );
            }
            Err(e) => panic!("{label}: expected {expected:?}, got error {e}"),
        }
    }
}

fn assert_invalid(key: &str, value: &str, expected_key: &str) {
    for (label, result) in parse_every_way(key, value) {
        match result {
            Ok(spec) => panic!("{label}: expected invalid_value, parsed as {spec:?}"),
            Err(e) => {
                assert_eq!(e.code(), "invalid_value", "{label}: {e}");
                assert_eq!(e.key(), Some(expected_key), "{label}: {e}");
                assert_eq!(e.kind(), crate::ErrorKind::BadSpec, "{label}");
                assert_eq!(e.kind().http_status(), 400, "{label}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Error code and key of a failed parse (panics when it parses).
fn err_of(result: Result<Spec, Error>) -> (&'static str, Option<String>) {
    match result {
        Ok(spec) => panic!("expected an error, parsed as {spec:?}"),
        Err(e) => (e.code(), e.key().map(str::to_owned)),
    }
}

fn ok(s: &str) -> Spec {
    Spec::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Every option, valid and invalid values, every grammar
// ---------------------------------------------------------------------------------------------

#[test]
fn width_and_height() {
    for (key, canonical) in [
        ("width", "width"),
        ("w", "width"),
        ("height", "height"),
        ("h", "height"),
    ] {
        for (value, n) in [
            ("1", 1),
            ("2", 2),
            ("800", 800),
            ("0800", 800),
            ("65534", 65534),
            ("65535", 65535),
        ] {
            let expected = with(|s| {
                if canonical == "width" {
                    s.width = Some(n);
                } else {
                    s.height = Some(n);
                }
            });
            assert_valid(key, value, &expected);
            assert_eq!(expected.to_string(), format!("{canonical}={n}"));
        }
        for value in [
            "0",
            "00",
            "65536",
            "100000",
            "4294967296",
            "99999999999999999999999",
            "-1",
            "1.5",
            "1.0",
            "",
            "1e3",
            "0x10",
            "%2B1",
            "%201",
            "1%20",
            "one",
            "١",
        ] {
            assert_invalid(key, value, canonical);
        }
    }
}

#[test]
fn dpr() {
    for (value, expected) in [
        ("0.5", Some(0.5f32)),
        ("2", Some(2.0)),
        ("2.0", Some(2.0)),
        ("1.5", Some(1.5)),
        ("0.01", Some(0.01)),
        (".5", Some(0.5)),
        ("1.", None),
        ("1", None),
        ("1.0", None),
        ("1.000", None),
        ("01", None),
    ] {
        let spec = with(|s| s.dpr = expected);
        assert_valid("dpr", value, &spec);
    }
    assert_eq!(ok("dpr=1").to_string(), "");
    assert!(ok("dpr=1").is_identity());
    assert_eq!(ok("dpr=1.5").to_string(), "dpr=1.5");
    for value in [
        "0",
        "0.0",
        "00",
        "2.01",
        "2.5",
        "3",
        "-1",
        "-0.5",
        "abc",
        "",
        ".",
        "1.2.3",
        "1e0",
        "inf",
        "NaN",
        "1,5",
        "automatic",
    ] {
        // "1,5" splits into two options in the comma form; test it only where it is one value.
        if value == "1,5" {
            for r in [Spec::parse_query("dpr=1,5"), Spec::parse("dpr=1,5&anim=1")] {
                assert_eq!(err_of(r), ("invalid_value", Some("dpr".to_owned())));
            }
            assert_eq!(err_of(Spec::parse_options("dpr=1,5")).0, "malformed_spec");
            continue;
        }
        assert_invalid("dpr", value, "dpr");
    }
}

#[test]
fn dpr_scales_device_size() {
    let s = ok("w=400,h=300,dpr=2");
    assert_eq!(s.device_width(), Some(800));
    assert_eq!(s.device_height(), Some(600));
    let s = ok("w=401,dpr=0.5");
    assert_eq!(s.device_width(), Some(201)); // 200.5 rounds half away from zero
    assert_eq!(s.device_height(), None);
    let s = ok("w=1,h=1,dpr=0.01");
    assert_eq!(s.device_width(), Some(1), "at least one pixel");
    assert_eq!(s.device_height(), Some(1));
    let s = ok("w=65535,dpr=2");
    assert_eq!(s.device_width(), Some(131_070));
    assert_eq!(Spec::new().device_width(), None);
    assert_eq!(ok("w=10").device_width(), Some(10));
}

#[test]
fn fit() {
    for (value, fit) in [
        ("scale-down", Fit::ScaleDown),
        ("contain", Fit::Contain),
        ("cover", Fit::Cover),
        ("crop", Fit::Crop),
        ("aspect-crop", Fit::AspectCrop),
        ("pad", Fit::Pad),
        ("squeeze", Fit::Squeeze),
    ] {
        assert_valid("fit", value, &with(|s| s.fit = fit));
        assert_eq!(fit.as_str(), value);
        let canonical = with(|s| s.fit = fit).to_string();
        if fit == Fit::ScaleDown {
            assert_eq!(canonical, "", "the default is omitted");
        } else {
            assert_eq!(canonical, format!("fit={value}"));
        }
    }
    for value in [
        "",
        "fill",
        "Cover",
        "COVER",
        "scale_down",
        "scaledown",
        "inside",
        " cover",
        "cover ",
    ] {
        assert_invalid("fit", value, "fit");
    }
}

#[test]
fn gravity() {
    for key in ["gravity", "g"] {
        for (value, gravity) in [
            ("center", Gravity::Center),
            ("left", Gravity::Left),
            ("right", Gravity::Right),
            ("top", Gravity::Top),
            ("bottom", Gravity::Bottom),
            ("auto", Gravity::Auto),
            ("0.5x0.33", Gravity::Focal { x: 0.5, y: 0.33 }),
            ("0x0", Gravity::Focal { x: 0.0, y: 0.0 }),
            ("1x1", Gravity::Focal { x: 1.0, y: 1.0 }),
            ("0x0.5", Gravity::Focal { x: 0.0, y: 0.5 }),
            ("1.0x.25", Gravity::Focal { x: 1.0, y: 0.25 }),
            ("0.5x0.5", Gravity::Center),
            ("0.50x.5", Gravity::Center),
        ] {
            assert_valid(key, value, &with(|s| s.gravity = gravity));
        }
        for value in [
            "face",
            "2x0",
            "0x2",
            "0.5",
            "x",
            "0.5x",
            "x0.5",
            "-0.1x0.5",
            "0.5x-0.1",
            "0.5x1.1",
            "1.01x0",
            "0.5x0.5x0.5",
            "0.5X0.5",
            "0.5*0.5",
            "centre",
            "Center",
            "",
            "north",
            "infxinf",
            "NaNx0",
        ] {
            assert_invalid(key, value, "gravity");
        }
    }
    assert_eq!(ok("g=0.5x0.33").to_string(), "gravity=0.5x0.33");
    assert_eq!(ok("g=left").to_string(), "gravity=left");
    assert_eq!(ok("g=auto").to_string(), "gravity=auto");
    assert_eq!(ok("g=center").to_string(), "");
    assert_eq!(ok("g=0.5x0.5").to_string(), "");
    // Only "center" is the default: an equivalent focal point is kept as given.
    assert_eq!(ok("g=0x0.5").to_string(), "gravity=0x0.5");
}

#[test]
fn gravity_focal_points() {
    assert_eq!(Gravity::Center.focal_point(), Some((0.5, 0.5)));
    assert_eq!(Gravity::Left.focal_point(), Some((0.0, 0.5)));
    assert_eq!(Gravity::Right.focal_point(), Some((1.0, 0.5)));
    assert_eq!(Gravity::Top.focal_point(), Some((0.5, 0.0)));
    assert_eq!(Gravity::Bottom.focal_point(), Some((0.5, 1.0)));
    assert_eq!(Gravity::Auto.focal_point(), None);
    assert_eq!(
        Gravity::Focal { x: 0.2, y: 0.7 }.focal_point(),
        Some((0.2, 0.7))
    );
}

#[test]
fn quality() {
    for key in ["quality", "q"] {
        for (value, q) in [
            ("1", Quality::Value(1)),
            ("50", Quality::Value(50)),
            ("075", Quality::Value(75)),
            ("100", Quality::Value(100)),
            ("high", Quality::High),
            ("medium-high", Quality::MediumHigh),
            ("medium-low", Quality::MediumLow),
            ("low", Quality::Low),
        ] {
            assert_valid(key, value, &with(|s| s.quality = Some(q)));
        }
        for value in [
            "0", "101", "255", "256", "-1", "", "50.5", "max", "HIGH", "medium", "high ", "1e2",
        ] {
            assert_invalid(key, value, "quality");
        }
    }
    assert_eq!(ok("q=high").to_string(), "quality=high");
    assert_eq!(ok("q=medium-low").to_string(), "quality=medium-low");
    assert_eq!(ok("q=075").to_string(), "quality=75");
    assert_eq!(Quality::High.value(), 90);
    assert_eq!(Quality::MediumHigh.value(), 80);
    assert_eq!(Quality::MediumLow.value(), 65);
    assert_eq!(Quality::Low.value(), 50);
    assert_eq!(Quality::Value(42).value(), 42);
}

#[test]
fn format() {
    for key in ["format", "f"] {
        for (value, f) in [
            ("auto", Format::Auto),
            ("avif", Format::Avif),
            ("webp", Format::Webp),
            ("jpeg", Format::Jpeg),
            ("baseline-jpeg", Format::BaselineJpeg),
            ("png", Format::Png),
            ("json", Format::Json),
        ] {
            assert_valid(key, value, &with(|s| s.format = Some(f)));
            assert_eq!(f.as_str(), value);
            assert_eq!(
                with(|s| s.format = Some(f)).to_string(),
                format!("format={value}")
            );
        }
        for value in ["", "jpg", "giff", "AVIF", "image/webp", "tiff", "baseline"] {
            assert_invalid(key, value, "format");
        }
    }
}

#[test]
fn rotate() {
    for (value, r, degrees, swaps) in [
        ("0", Rotate::None, 0, false),
        ("90", Rotate::Cw90, 90, true),
        ("180", Rotate::Cw180, 180, false),
        ("270", Rotate::Cw270, 270, true),
    ] {
        assert_valid("rotate", value, &with(|s| s.rotate = r));
        assert_eq!(r.degrees(), degrees);
        assert_eq!(r.swaps_axes(), swaps);
    }
    assert_eq!(ok("rotate=0").to_string(), "");
    assert_eq!(ok("rotate=270").to_string(), "rotate=270");
    for value in [
        "45", "360", "-90", "", "90.0", "1", "090", "450", "cw", "90deg",
    ] {
        assert_invalid("rotate", value, "rotate");
    }
}

#[test]
fn flip() {
    for (value, f) in [
        ("h", Flip::Horizontal),
        ("v", Flip::Vertical),
        ("hv", Flip::Both),
    ] {
        assert_valid("flip", value, &with(|s| s.flip = f));
        assert_eq!(with(|s| s.flip = f).to_string(), format!("flip={value}"));
    }
    for value in ["", "vh", "x", "H", "none", "horizontal", "hh"] {
        assert_invalid("flip", value, "flip");
    }
}

#[test]
fn background() {
    for (value, rgba) in [
        ("red", [255, 0, 0, 255]),
        ("white", [255, 255, 255, 255]),
        ("rebeccapurple", [102, 51, 153, 255]),
        ("transparent", [0, 0, 0, 0]),
        ("%23f00", [255, 0, 0, 255]),
        ("%23F00", [255, 0, 0, 255]),
        ("%23f008", [255, 0, 0, 0x88]),
        ("%2300ff00", [0, 255, 0, 255]),
        ("%23ff000080", [255, 0, 0, 128]),
        ("%23010203", [1, 2, 3, 255]),
        ("rgb(1,2,3)", [1, 2, 3, 255]),
        ("rgb(1%2C2%2C3)", [1, 2, 3, 255]),
        ("rgb(255%200%200)", [255, 0, 0, 255]),
        ("rgba(0,0,255,0.5)", [0, 0, 255, 128]),
        ("rgb(0%200%20255%20%2F%200.5)", [0, 0, 255, 128]),
        ("hsl(120,100%25,50%25)", [0, 255, 0, 255]),
    ] {
        assert_valid(
            "background",
            value,
            &with(|s| s.background = Some(Rgba(rgba))),
        );
    }
    for value in [
        "",
        "garbage",
        "notacolour",
        "%23ggg",
        "%2312345",
        "%23",
        "rgb(1,2)",
        "rgb(",
        "rgb(a,b,c)",
        "%23ff0000ff00",
        "redd",
        "url(x)",
        // Longer than 64 characters.
        "rgb(000000000000000000000000000001,000000000000000000000000000002,3)",
    ] {
        assert_invalid("background", value, "background");
    }
    // Commas inside parentheses do not split the comma form.
    assert_eq!(
        Spec::parse_options("background=rgb(1,2,3),width=10").map_err(|e| e.code()),
        Ok(with(|s| {
            s.background = Some(Rgba([1, 2, 3, 255]));
            s.width = Some(10);
        }))
    );
    assert_eq!(
        Spec::parse("width=10,background=rgba(1,2,3,0),q=5").map_err(|e| e.code()),
        Ok(with(|s| {
            s.background = Some(Rgba([1, 2, 3, 0]));
            s.width = Some(10);
            s.quality = Some(Quality::Value(5));
        }))
    );
    // CSS4 space syntax; `+` is a space only in the query form.
    assert_eq!(
        Spec::parse_query("background=rgb(255+0+0)").map_err(|e| e.code()),
        Ok(with(|s| s.background = Some(Rgba([255, 0, 0, 255]))))
    );
    assert_eq!(
        Spec::parse_options("background=rgb(255 0 0)").map_err(|e| e.code()),
        Ok(with(|s| s.background = Some(Rgba([255, 0, 0, 255]))))
    );
    // A literal `#` works too.
    assert_eq!(
        Spec::parse_query("background=#0000ff").map_err(|e| e.code()),
        Ok(with(|s| s.background = Some(Rgba([0, 0, 255, 255]))))
    );
    // Canonical: lowercase hex behind %23, alpha only when not opaque.
    assert_eq!(ok("background=red").to_string(), "background=%23ff0000");
    assert_eq!(ok("background=%23F00").to_string(), "background=%23ff0000");
    assert_eq!(
        ok("background=rgba(255,0,0,0.5)").to_string(),
        "background=%23ff000080"
    );
    assert_eq!(
        ok("background=transparent").to_string(),
        "background=%2300000000"
    );
    // background=white is not the identity: it is recorded.
    assert!(!ok("background=white").is_identity());
}

#[test]
fn blur() {
    for (value, b) in [
        ("0", None),
        ("00", None),
        ("1", Some(1u8)),
        ("100", Some(100)),
        ("249", Some(249)),
        ("250", Some(250)),
    ] {
        assert_valid("blur", value, &with(|s| s.blur = b));
    }
    assert_eq!(ok("blur=0").to_string(), "");
    assert_eq!(ok("blur=7").to_string(), "blur=7");
    for value in ["251", "255", "256", "300", "-1", "1.5", "", "big", "1e2"] {
        assert_invalid("blur", value, "blur");
    }
}

#[test]
fn brightness_contrast_gamma_saturation() {
    for key in Adjust::KEYS {
        let set = |s: &mut Spec, v: Option<f32>| match key {
            "brightness" => s.adjust.brightness = v,
            "contrast" => s.adjust.contrast = v,
            "gamma" => s.adjust.gamma = v,
            _ => s.adjust.saturation = v,
        };
        for (value, v) in [("0.5", Some(0.5f32)), ("2", Some(2.0)), ("10", Some(10.0))] {
            assert_valid(key, value, &with(|s| set(s, v)));
            assert_eq!(
                ok(&format!("{key}={value}")).to_string(),
                format!("{key}={}", v.unwrap())
            );
        }
        // 1 is no change: not part of the canonical spec, so not of the variant's identity.
        assert!(ok(&format!("{key}=1")).is_identity(), "{key}");
        assert!(ok(&format!("{key}=1.0")).is_identity(), "{key}");
        for value in ["10.5", "-1", "", "x", "1e1", "inf"] {
            assert_invalid(key, value, key);
        }
    }
    // 0 is ignored for brightness, contrast and gamma (Cloudflare's rule) and is greyscale
    // for saturation.
    for key in ["brightness", "contrast", "gamma"] {
        assert!(ok(&format!("{key}=0")).is_identity(), "{key}");
    }
    assert_eq!(ok("saturation=0").adjust.saturation, Some(0.0));
    assert_eq!(ok("saturation=0").to_string(), "saturation=0");
    // Canonical order whatever the URL's.
    assert_eq!(
        ok("saturation=2,gamma=1.5,brightness=0.8").to_string(),
        "brightness=0.8,gamma=1.5,saturation=2"
    );
}

#[test]
fn sharpen() {
    for (value, v) in [
        ("0", None),
        ("0.0", None),
        ("0.000", None),
        ("0.5", Some(0.5f32)),
        ("1", Some(1.0)),
        ("1.5", Some(1.5)),
        ("10", Some(10.0)),
        ("10.0", Some(10.0)),
        ("3.25", Some(3.25)),
    ] {
        assert_valid("sharpen", value, &with(|s| s.sharpen = v));
    }
    assert_eq!(ok("sharpen=0").to_string(), "");
    assert_eq!(ok("sharpen=2.5").to_string(), "sharpen=2.5");
    for value in [
        "10.1", "11", "-1", "-0", "", "abc", "1e1", ".", "1..2", "inf", "NaN",
    ] {
        assert_invalid("sharpen", value, "sharpen");
    }
}

#[test]
fn metadata() {
    for (value, m) in [
        ("none", Metadata::None),
        ("copyright", Metadata::Copyright),
        ("keep", Metadata::Keep),
    ] {
        assert_valid("metadata", value, &with(|s| s.metadata = m));
        assert_eq!(m.as_str(), value);
    }
    assert_eq!(ok("metadata=none").to_string(), "");
    assert_eq!(ok("metadata=keep").to_string(), "metadata=keep");
    for value in ["", "all", "KEEP", "strip", "copy"] {
        assert_invalid("metadata", value, "metadata");
    }
}

#[test]
fn anim() {
    for (value, a) in [("true", true), ("1", true), ("false", false), ("0", false)] {
        assert_valid("anim", value, &with(|s| s.anim = a));
    }
    assert_eq!(ok("anim=true").to_string(), "");
    assert_eq!(ok("anim=0").to_string(), "anim=false");
    for value in ["", "yes", "no", "TRUE", "False", "2", "01", "t"] {
        assert_invalid("anim", value, "anim");
    }
}

#[test]
fn trim_edges() {
    let edges = |top, right, bottom, left| {
        with(|s| {
            s.trim = Some(Trim::Edges {
                top,
                right,
                bottom,
                left,
            })
        })
    };
    assert_valid("trim", "1;2;3;4", &edges(1, 2, 3, 4));
    assert_valid("trim", "0;0;0;5", &edges(0, 0, 0, 5));
    assert_valid("trim", "65535;0;0;0", &edges(65535, 0, 0, 0));
    assert_valid("trim", "0;0;0;0", &Spec::new());
    assert_valid("trim", "00;0;000;0", &Spec::new());
    assert_valid("trim", "1%3B2%3B3%3B4", &edges(1, 2, 3, 4));
    assert_eq!(ok("trim=1;2;3;4").to_string(), "trim=1;2;3;4");
    for value in [
        "",
        "1",
        "1;2;3",
        "1;2;3;4;5",
        "a;b;c;d",
        "-1;0;0;0",
        "65536;0;0;0",
        "1;2;3;",
        ";;;",
        "1.5;0;0;0",
        "1 ;2;3;4",
    ] {
        assert_invalid("trim", value, "trim");
    }
    // Commas split options in the comma form, so "1,2,3,4" there is `trim=1` (invalid) and
    // then malformed parts.
    assert_eq!(
        err_of(Spec::parse_options("trim=1,2,3,4")),
        ("invalid_value", Some("trim".to_owned()))
    );
    assert_eq!(
        err_of(Spec::parse_query("trim=1,2,3,4")),
        ("invalid_value", Some("trim".to_owned()))
    );
}

#[test]
fn trim_rect() {
    let rect = |left, top, width, height| {
        with(|s| {
            s.trim = Some(Trim::Rect {
                left,
                top,
                width,
                height,
            })
        })
    };
    assert_valid("trim.left", "10", &rect(10, 0, None, None));
    assert_valid("trim.top", "5", &rect(0, 5, None, None));
    assert_valid("trim.width", "100", &rect(0, 0, Some(100), None));
    assert_valid("trim.height", "7", &rect(0, 0, None, Some(7)));
    assert_valid("trim.left", "65535", &rect(65535, 0, None, None));
    assert_valid("trim.width", "65535", &rect(0, 0, Some(65535), None));
    // A rectangle that keeps everything is no trim.
    assert_valid("trim.left", "0", &Spec::new());
    assert_valid("trim.top", "0", &Spec::new());
    for (key, value) in [
        ("trim.left", "-1"),
        ("trim.left", "65536"),
        ("trim.left", ""),
        ("trim.left", "1.5"),
        ("trim.top", "x"),
        ("trim.top", "65536"),
        ("trim.width", "0"),
        ("trim.width", "65536"),
        ("trim.width", "auto"),
        ("trim.height", "0"),
        ("trim.height", "-5"),
    ] {
        assert_invalid(key, value, key);
    }
    let all = "trim.height=40&trim.width=30&trim.top=20&trim.left=10";
    let expected = rect(10, 20, Some(30), Some(40));
    assert_eq!(Spec::parse(all).map_err(|e| e.code()), Ok(expected.clone()));
    assert_eq!(
        Spec::parse_options(&all.replace('&', ",")).map_err(|e| e.code()),
        Ok(expected.clone())
    );
    assert_eq!(
        expected.to_string(),
        "trim.left=10,trim.top=20,trim.width=30,trim.height=40"
    );
    // left and top are always written, so the rectangle is recognisable.
    assert_eq!(
        ok("trim.width=30").to_string(),
        "trim.left=0,trim.top=0,trim.width=30"
    );
}

#[test]
fn trim_both_forms_is_an_error() {
    for s in [
        "trim=1;2;3;4&trim.left=5",
        "trim.left=5&trim=1;2;3;4",
        "trim.width=5,trim=1;2;3;4",
        "trim=0;0;0;0&trim.left=0",
        "trim=1;1;1;1,trim.height=9",
    ] {
        let e = Spec::parse(s).expect_err(s);
        assert_eq!(e.code(), "invalid_value", "{s}");
        assert_eq!(e.key(), Some("trim"), "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: code and key
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_options() {
    for (s, key) in [
        ("foo=1", "foo"),
        ("Width=1", "Width"),
        ("W=1", "W"),
        ("trim.right=1", "trim.right"),
        ("on_error=redirect", "on_error"),
        ("width=1&bogus=2", "bogus"),
        ("width=1,bogus=2", "bogus"),
        (" width=1", " width"),
        ("%77idth%20=1", "width "),
    ] {
        let e = Spec::parse(s).expect_err(s);
        assert_eq!(e.code(), "unknown_option", "{s}");
        assert_eq!(e.key(), Some(key), "{s}");
        assert_eq!(e.kind(), crate::ErrorKind::BadSpec);
    }
    // Percent-decoded keys are recognised.
    assert_eq!(ok("%77idth=5").width, Some(5));
    // An overlong unknown key is echoed back truncated in the message.
    let long = format!("{}=1", "k".repeat(1000));
    let e = Spec::parse(&long).expect_err("unknown");
    assert_eq!(e.code(), "unknown_option");
    assert!(e.to_string().len() < 200, "{}", e.to_string().len());
}

#[test]
fn duplicate_options() {
    for (s, key) in [
        ("w=1&width=2", "width"),
        ("width=1&w=2", "width"),
        ("w=1&w=2", "width"),
        ("width=1,width=1", "width"),
        ("h=1,height=2", "height"),
        ("q=1&quality=2", "quality"),
        ("g=left&gravity=right", "gravity"),
        ("f=png,format=png", "format"),
        ("blur=1&blur=2", "blur"),
        ("anim=true,anim=true", "anim"),
        ("fit=cover&fit=contain", "fit"),
        ("trim.left=1&trim.left=2", "trim.left"),
        ("trim=1;1;1;1&trim=1;1;1;1", "trim"),
        // Detected before the value is looked at.
        ("w=1&width=garbage", "width"),
        // Defaults count too.
        ("rotate=0&rotate=0", "rotate"),
    ] {
        let e = Spec::parse(s).expect_err(s);
        assert_eq!(e.code(), "duplicate_option", "{s}");
        assert_eq!(e.key(), Some(key), "{s}");
        assert_eq!(
            Spec::parse_query(&s.replace(',', "&"))
                .map_err(|e| (e.code(), e.key().map(str::to_owned)))
                .err(),
            Some(("duplicate_option", Some(key.to_owned())))
        );
        assert_eq!(
            Spec::parse_options(&s.replace('&', ","))
                .map_err(|e| (e.code(), e.key().map(str::to_owned)))
                .err(),
            Some(("duplicate_option", Some(key.to_owned())))
        );
    }
    // The first bad value wins over a later duplicate.
    assert_eq!(
        err_of(Spec::parse("w=x&width=2")),
        ("invalid_value", Some("width".to_owned()))
    );
}

#[test]
fn invalid_values_name_the_canonical_key() {
    for (s, key) in [
        ("w=abc", "width"),
        ("h=0", "height"),
        ("q=0", "quality"),
        ("f=bmp", "format"),
        ("g=face", "gravity"),
        ("width=10&fit=stretch", "fit"),
    ] {
        assert_eq!(
            err_of(Spec::parse(s)),
            ("invalid_value", Some(key.to_owned())),
            "{s}"
        );
    }
    // Face detection and client-hint sizing say why they are refused.
    let e = Spec::parse("gravity=face").expect_err("face");
    assert!(e.to_string().contains("face"), "{e}");
    let e = Spec::parse("height=auto").expect_err("auto");
    assert!(e.to_string().contains("only width takes auto"), "{e}");
}

#[test]
fn malformed_parts() {
    // In one grammar only: the other grammar sees a value containing `&` or `,`.
    for s in ["width=1&height", "width=1&=5", "&=&"] {
        for r in [Spec::parse_query(s), Spec::parse(s)] {
            assert_eq!(err_of(r), ("malformed_spec", None), "{s}");
        }
    }
    for s in ["width=1,height", "width=1,=5", ",=,"] {
        for r in [Spec::parse_options(s), Spec::parse(s)] {
            assert_eq!(err_of(r), ("malformed_spec", None), "{s}");
        }
    }
    for s in [
        "width",
        "=5",
        "=",
        "quality",
        // Bad percent escapes, in keys and values.
        "width=%zz",
        "width=%4",
        "width=%",
        "width=1%",
        "width=%%32",
        "width=%g1",
        "%zz=1",
        "%7=1",
        // Escapes that decode to invalid UTF-8.
        "width=%ff",
        "background=%c3%28",
        // Non-ASCII after `%`.
        "width=%é1",
        "width=%1é",
        // Sign characters are not hex digits.
        "width=%+1",
        "width=%-1",
        "background=red%+9",
    ] {
        for (label, r) in [
            ("parse_query", Spec::parse_query(s)),
            ("parse_options", Spec::parse_options(s)),
            ("parse", Spec::parse(s)),
        ] {
            let e = r.expect_err(&format!("{label}({s:?}) should fail"));
            assert_eq!(e.code(), "malformed_spec", "{label}({s:?}): {e}");
            assert_eq!(e.key(), None, "{label}({s:?})");
        }
    }
    // The echoed part is cut short.
    let long = "x".repeat(500);
    let e = Spec::parse(&long).expect_err("no =");
    assert_eq!(e.code(), "malformed_spec");
    assert!(e.to_string().len() < 200);
}

#[test]
fn empty_parts_are_skipped() {
    for s in [
        "",
        "?",
        "&",
        "&&",
        ",",
        ",,",
        "?&",
        "width=5&",
        "&width=5",
        "width=5,",
        ",width=5",
        "width=5&&",
        ",,width=5,,",
    ] {
        let r = Spec::parse(s).map_err(|e| e.code());
        let expected = if s.contains("width") {
            with(|x| x.width = Some(5))
        } else {
            Spec::new()
        };
        assert_eq!(r, Ok(expected), "{s:?}");
    }
    assert!(ok("").is_identity());
    assert_eq!(ok(""), Spec::new());
    assert_eq!(Spec::parse_query("").map_err(|e| e.code()), Ok(Spec::new()));
    assert_eq!(
        Spec::parse_options("").map_err(|e| e.code()),
        Ok(Spec::new())
    );
}

#[test]
fn grammar_detection() {
    let expected = with(|s| {
        s.width = Some(1);
        s.height = Some(2);
    });
    assert_eq!(
        Spec::parse("width=1,height=2").map_err(|e| e.code()),
        Ok(expected.clone())
    );
    assert_eq!(
        Spec::parse("width=1&height=2").map_err(|e| e.code()),
        Ok(expected.clone())
    );
    assert_eq!(
        Spec::parse("?width=1&height=2").map_err(|e| e.code()),
        Ok(expected.clone())
    );
    assert_eq!(
        Spec::parse("?width=1,height=2").map_err(|e| e.code()),
        Ok(expected)
    );
    // One `&` makes it the query form, where commas are part of values.
    assert_eq!(
        err_of(Spec::parse("width=1,height=2&q=5")),
        ("invalid_value", Some("width".to_owned()))
    );
    // Only one leading `?` is stripped.
    assert_eq!(err_of(Spec::parse("??width=1")).0, "unknown_option");
    // `+` is a space in the query form only.
    assert_eq!(
        err_of(Spec::parse_query("width=+5")),
        ("invalid_value", Some("width".to_owned()))
    );
    assert_eq!(
        err_of(Spec::parse_options("width=+5")),
        ("invalid_value", Some("width".to_owned()))
    );
    assert_eq!(ok("width=%35").width, Some(5));
}

// ---------------------------------------------------------------------------------------------
// Canonical form
// ---------------------------------------------------------------------------------------------

#[test]
fn canonical_form() {
    assert_eq!(
        ok("q=75&w=800&fit=scale-down").to_string(),
        "width=800,quality=75"
    );
    assert_eq!(
        ok("q=75&w=800&fit=scale-down").to_query(),
        "width=800&quality=75"
    );
    assert_eq!(
        ok("q=75,w=800,fit=scale-down").to_string(),
        "width=800,quality=75"
    );

    let full = "width=800,height=600,dpr=1.5,fit=cover,gravity=0.25x0.75,trim=1;2;3;4,flip=hv,\
                rotate=90,background=%23102030,blur=3,sharpen=1.5,quality=medium-high,\
                format=webp,metadata=copyright,anim=false,v=2024-06.b";
    let scrambled =
        "version=2024-06.b&anim=0&metadata=copyright&f=webp&q=medium-high&sharpen=1.5&blur=3&\
                     background=%23102030&rotate=90&flip=hv&trim=1;2;3;4&g=0.25x0.75&\
                     fit=cover&dpr=1.5&h=600&w=800";
    let spec = ok(scrambled);
    assert_eq!(spec.to_string(), full);
    assert_eq!(spec.to_query(), full.replace(',', "&"));
    assert_eq!(ok(full), spec);
    assert_eq!(
        spec,
        Spec {
            width: Some(800),
            height: Some(600),
            dpr: Some(1.5),
            fit: Fit::Cover,
            gravity: Gravity::Focal { x: 0.25, y: 0.75 },
            trim: Some(Trim::Edges {
                top: 1,
                right: 2,
                bottom: 3,
                left: 4
            }),
            flip: Flip::Both,
            rotate: Rotate::Cw90,
            background: Some(Rgba([0x10, 0x20, 0x30, 255])),
            blur: Some(3),
            sharpen: Some(1.5),
            adjust: Adjust::default(),
            quality: Some(Quality::MediumHigh),
            format: Some(Format::Webp),
            metadata: Metadata::Copyright,
            anim: false,
            version: Some("2024-06.b".into()),
            ..Spec::new()
        }
    );
    assert!(!spec.is_identity());

    // Every default, spelled out, is the identity.
    let defaults = "fit=scale-down&gravity=center&rotate=0&anim=true&metadata=none&dpr=1&blur=0&\
                    sharpen=0&trim=0;0;0;0";
    let spec = ok(defaults);
    assert!(spec.is_identity());
    assert_eq!(spec.to_string(), "");
    assert_eq!(spec.to_query(), "");
    assert!(Spec::new().is_identity());
    assert!(Spec::default().is_identity());
    assert_eq!(Spec::new().to_string(), "");

    // Things that are not the default are not the identity.
    for s in [
        "w=1",
        "format=auto",
        "q=high",
        "anim=false",
        "flip=h",
        "g=auto",
        "background=red",
    ] {
        assert!(!ok(s).is_identity(), "{s}");
    }
}

#[test]
fn option_names_cover_the_vocabulary() {
    let names: Vec<&str> = option_names().collect();
    for n in [
        "width",
        "w",
        "height",
        "h",
        "dpr",
        "fit",
        "gravity",
        "g",
        "trim",
        "trim.left",
        "trim.top",
        "trim.width",
        "trim.height",
        "flip",
        "rotate",
        "background",
        "blur",
        "sharpen",
        "brightness",
        "contrast",
        "gamma",
        "saturation",
        "quality",
        "q",
        "format",
        "f",
        "metadata",
        "anim",
        "v",
        "version",
        "border",
        "compression",
        "onerror",
        "trim.border.tolerance",
        "trim.border.keep",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    assert_eq!(names.len(), 35, "{names:?}");
    // Every name is accepted by the parser with some value (none is unknown).
    for n in names {
        let e = Spec::parse(&format!("{n}=%00")).expect_err(n);
        assert_eq!(e.code(), "invalid_value", "{n}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

fn arb_dimension() -> impl Strategy<Value = Option<u32>> {
    proptest::option::of(prop_oneof![1u32..=MAX_DIMENSION, 1u32..=4000])
}

/// A positive `f32` no larger than `max`, either a short decimal or any bit pattern
/// (subnormals included), so the shortest-round-trip formatting is exercised.
fn arb_positive_f32(max: f32) -> impl Strategy<Value = f32> {
    let hundredths = (max * 100.0) as u32;
    prop_oneof![
        (1u32..=hundredths).prop_map(|n| n as f32 / 100.0),
        (1u32..=max.to_bits()).prop_map(f32::from_bits),
        Just(max),
        Just(f32::from_bits(1)),
    ]
}

/// A fraction in `0..=1`, the same way.
fn arb_unit_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        (0u32..=100).prop_map(|n| n as f32 / 100.0),
        (0u32..=1.0f32.to_bits()).prop_map(f32::from_bits),
        Just(0.0f32),
        Just(1.0f32),
    ]
}

fn arb_gravity() -> impl Strategy<Value = Gravity> {
    prop_oneof![
        prop::sample::select(Gravity::NAMED.iter().map(|(g, _)| *g).collect::<Vec<_>>()),
        (arb_unit_f32(), arb_unit_f32())
            .prop_filter("0.5x0.5 is center", |(x, y)| !(*x == 0.5 && *y == 0.5))
            .prop_map(|(x, y)| Gravity::Focal { x, y }),
    ]
}

fn arb_trim() -> impl Strategy<Value = Option<Trim>> {
    let n = || prop_oneof![0u32..=MAX_DIMENSION, 0u32..=50];
    let edges = (n(), n(), n(), n())
        .prop_filter("all zero is no trim", |(a, b, c, d)| {
            (a, b, c, d) != (&0, &0, &0, &0)
        })
        .prop_map(|(top, right, bottom, left)| Trim::Edges {
            top,
            right,
            bottom,
            left,
        });
    let rect = (
        n(),
        n(),
        proptest::option::of(1u32..=MAX_DIMENSION),
        proptest::option::of(1u32..=MAX_DIMENSION),
    )
        .prop_filter("an empty rectangle is no trim", |(l, t, w, h)| {
            !(*l == 0 && *t == 0 && w.is_none() && h.is_none())
        })
        .prop_map(|(left, top, width, height)| Trim::Rect {
            left,
            top,
            width,
            height,
        });
    let border = (any::<u8>(), 0u32..=20)
        .prop_map(|(tolerance, keep)| Trim::Border(TrimBorder { tolerance, keep }));
    proptest::option::of(prop_oneof![edges, rect, border])
}

/// `border`, `compression`, `onerror` and the client-hint `auto`s.
fn arb_delivery() -> BoxedStrategy<(Option<Border>, Compression, OnError, bool, bool)> {
    let w = || 0u32..=MAX_BORDER;
    let border = proptest::option::of(
        (w(), w(), w(), w(), any::<[u8; 4]>())
            .prop_filter("no width is no border", |(a, b, c, d, _)| {
                (a, b, c, d) != (&0, &0, &0, &0)
            })
            .prop_map(|(top, right, bottom, left, color)| Border {
                top,
                right,
                bottom,
                left,
                color: Rgba(color),
            }),
    );
    (
        border,
        prop::sample::select(vec![Compression::Default, Compression::Fast]),
        prop::sample::select(vec![OnError::Status, OnError::Redirect]),
        any::<bool>(),
        any::<bool>(),
    )
        .boxed()
}

fn arb_quality() -> impl Strategy<Value = Option<Quality>> {
    proptest::option::of(prop_oneof![
        (1u8..=100).prop_map(Quality::Value),
        prop::sample::select(Quality::NAMED.iter().map(|(q, _)| *q).collect::<Vec<_>>()),
    ])
}

fn select_of<T: Clone + std::fmt::Debug + 'static>(
    table: &[(T, &'static str)],
) -> impl Strategy<Value = T> {
    prop::sample::select(table.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>())
}

/// Boxed, group by group: a nest of unboxed tuple strategies builds its value trees on the
/// stack, which overflowed wasm32-wasip1's 1 MiB stack in debug builds.
fn arb_spec() -> BoxedStrategy<Spec> {
    let geometry = (
        arb_dimension(),
        arb_dimension(),
        proptest::option::of(arb_positive_f32(2.0).prop_filter("dpr=1 is None", |d| *d != 1.0)),
        select_of(&Fit::ALL),
        arb_gravity(),
        arb_trim(),
    )
        .boxed();
    let effects = (
        prop_oneof![Just(Flip::None), select_of(&Flip::ALL)],
        prop::sample::select(vec![
            Rotate::None,
            Rotate::Cw90,
            Rotate::Cw180,
            Rotate::Cw270,
        ]),
        proptest::option::of(any::<[u8; 4]>().prop_map(Rgba)),
        proptest::option::of(1u8..=250),
        proptest::option::of(arb_positive_f32(10.0)),
        arb_quality(),
    )
        .boxed();
    let output = (
        proptest::option::of(select_of(&Format::ALL)),
        select_of(&Metadata::ALL),
        any::<bool>(),
        proptest::option::of("[A-Za-z0-9._~-]{1,64}"),
    )
        .boxed();
    let factor =
        || proptest::option::of(arb_positive_f32(10.0).prop_filter("1 is None", |v| *v != 1.0));
    let adjust = (factor(), factor(), factor(), factor())
        .prop_map(|(brightness, contrast, gamma, saturation)| Adjust {
            brightness,
            contrast,
            gamma,
            saturation,
        })
        .boxed();
    (geometry, effects, output, adjust, arb_delivery())
        .prop_map(
            |(
                (width, height, dpr, fit, gravity, trim),
                (flip, rotate, background, blur, sharpen, quality),
                (format, metadata, anim, version),
                adjust,
                (border, compression, on_error, width_auto, dpr_auto),
            )| Spec {
                width,
                height,
                dpr,
                fit,
                gravity,
                trim,
                flip,
                rotate,
                background,
                blur,
                sharpen,
                adjust,
                border,
                quality,
                format,
                metadata,
                compression,
                anim,
                on_error,
                version,
                // width=auto stands for the width, and takes no dpr.
                width_auto: width_auto && width.is_none() && dpr.is_none() && !dpr_auto,
                dpr_auto: dpr_auto && dpr.is_none() && !(width_auto && width.is_none()),
            },
        )
        .boxed()
}

/// A value for a random option: mostly plausible, sometimes garbage.
fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..=70_000).prop_map(|n| n.to_string()),
        any::<f32>().prop_map(|f| f.to_string()),
        (0u32..=300).prop_map(|n| format!("{}", n as f32 / 100.0)),
        (0u32..=120, 0u32..=120).prop_map(|(x, y)| format!(
            "{}x{}",
            x as f32 / 100.0,
            y as f32 / 100.0
        )),
        (0u32..=70_000, 0u32..=70_000, 0u32..=70_000, 0u32..=70_000)
            .prop_map(|(a, b, c, d)| format!("{a};{b};{c};{d}")),
        prop::sample::select(vec![
            "auto",
            "true",
            "false",
            "cover",
            "pad",
            "scale-down",
            "aspect-crop",
            "hv",
            "left",
            "face",
            "high",
            "low",
            "avif",
            "json",
            "keep",
            "red",
            "%23f00",
            "%23ff000080",
            "rgb(1,2,3)",
            "rgb(255 0 0)",
            "hsl(1,2%25,3%25)",
            "%",
            "%%",
            "%zz",
            "=",
            ",",
            "(",
            ")",
            "((",
            "))",
            "",
            "-1",
            "1e9",
            "NaN",
            "inf",
            "1.5.5",
            "%ff",
            "%c3%a9",
            "+",
            "++",
            "&",
        ])
        .prop_map(str::to_owned),
        ".{0,24}",
        "[0-9a-f%#(),;.x+ -]{0,40}",
    ]
}

/// Valid, non-canonical `key=value` parts: aliases, leading zeros, trailing decimal zeros,
/// named and functional colours, defaults spelled out. At most one part per option (the
/// `trim.*` rectangle may give several).
fn arb_valid_parts() -> impl Strategy<Value = Vec<String>> {
    let alias = |names: &'static [&'static str]| prop::sample::select(names.to_vec());
    let zeros = || prop::sample::select(vec!["", "0", "00"]);
    let dimension = move |names: &'static [&'static str]| {
        (alias(names), zeros(), 1u32..=MAX_DIMENSION).prop_map(|(k, z, n)| format!("{k}={z}{n}"))
    };
    let named = |key: &'static str, values: &'static [&'static str]| {
        prop::sample::select(values.to_vec()).prop_map(move |v| format!("{key}={v}"))
    };
    let decimal = |hundredths: std::ops::RangeInclusive<u32>| {
        (hundredths, 0usize..4).prop_map(|(n, places)| {
            let v = f64::from(n) / 100.0;
            if places == 0 && n % 100 == 0 {
                format!("{}", n / 100)
            } else {
                format!("{v:.places$}", places = places.max(2))
            }
        })
    };
    let gravity = prop_oneof![
        (
            alias(&["g", "gravity"]),
            prop::sample::select(vec!["center", "left", "right", "top", "bottom", "auto",])
        )
            .prop_map(|(k, v)| format!("{k}={v}")),
        (alias(&["g", "gravity"]), decimal(0..=100), decimal(0..=100))
            .prop_map(|(k, x, y)| format!("{k}={x}x{y}")),
    ];
    let trim = prop_oneof![
        (0u32..=300, 0u32..=300, 0u32..=300, 0u32..=300)
            .prop_map(|(a, b, c, d)| vec![format!("trim={a};{b};{c};{d}")]),
        (
            proptest::option::of(0u32..=MAX_DIMENSION),
            proptest::option::of(0u32..=MAX_DIMENSION),
            proptest::option::of(1u32..=MAX_DIMENSION),
            proptest::option::of(1u32..=MAX_DIMENSION),
        )
            .prop_map(|(l, t, w, h)| {
                let mut v = Vec::new();
                for (k, x) in [("left", l), ("top", t), ("width", w), ("height", h)] {
                    if let Some(x) = x {
                        v.push(format!("trim.{k}={x}"));
                    }
                }
                v
            }),
    ];
    let background = prop_oneof![
        named(
            "background",
            &[
                "red",
                "white",
                "black",
                "transparent",
                "rebeccapurple",
                "Navy"
            ]
        ),
        any::<[u8; 4]>()
            .prop_map(|[r, g, b, a]| format!("background=%23{r:02X}{g:02x}{b:02x}{a:02x}")),
        any::<[u8; 3]>().prop_map(|[r, g, b]| format!("background=%23{r:02x}{g:02X}{b:02x}")),
        (0u8..16, 0u8..16, 0u8..16).prop_map(|(r, g, b)| format!("background=%23{r:x}{g:x}{b:x}")),
        any::<[u8; 3]>().prop_map(|[r, g, b]| format!("background=rgb({r},{g},{b})")),
        any::<[u8; 3]>().prop_map(|[r, g, b]| format!("background=rgb({r}%20{g}%20{b})")),
        (any::<[u8; 3]>(), 0u32..=100).prop_map(|([r, g, b], a)| format!(
            "background=rgba({r},{g},{b},{})",
            f64::from(a) / 100.0
        )),
        (0u32..360, 0u32..=100, 0u32..=100)
            .prop_map(|(h, s, l)| format!("background=hsl({h},{s}%25,{l}%25)")),
    ];
    let quality = prop_oneof![
        (alias(&["q", "quality"]), zeros(), 1u32..=100).prop_map(|(k, z, n)| format!("{k}={z}{n}")),
        (
            alias(&["q", "quality"]),
            prop::sample::select(vec!["high", "medium-high", "medium-low", "low",])
        )
            .prop_map(|(k, v)| format!("{k}={v}")),
    ];
    let format = (
        alias(&["f", "format"]),
        prop::sample::select(Format::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>()),
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    let one = |s: BoxedStrategy<String>| proptest::option::of(s.prop_map(|p| vec![p]));
    (
        (
            one(dimension(&["w", "width"]).boxed()),
            one(dimension(&["h", "height"]).boxed()),
            one(decimal(1..=200).prop_map(|d| format!("dpr={d}")).boxed()),
            one(named(
                "fit",
                &[
                    "scale-down",
                    "contain",
                    "cover",
                    "crop",
                    "aspect-crop",
                    "pad",
                    "squeeze",
                ],
            )
            .boxed()),
            one(gravity.boxed()),
            proptest::option::of(trim),
        ),
        (
            one(named("flip", &["h", "v", "hv"]).boxed()),
            one(named("rotate", &["0", "90", "180", "270"]).boxed()),
            one(background.boxed()),
            one((zeros(), 0u32..=250)
                .prop_map(|(z, n)| format!("blur={z}{n}"))
                .boxed()),
            one(decimal(0..=1000)
                .prop_map(|d| format!("sharpen={d}"))
                .boxed()),
            one(quality.boxed()),
        ),
        (
            one(format.boxed()),
            one(named("metadata", &["none", "copyright", "keep"]).boxed()),
            one(named("anim", &["true", "false", "1", "0"]).boxed()),
        ),
    )
        .prop_map(|((a, b, c, d, e, f), (g, h, i, j, k, l), (m, n, o))| {
            [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o]
                .into_iter()
                .flatten()
                .flatten()
                .collect()
        })
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

fn parse_all_three(s: &str) {
    for r in [Spec::parse(s), Spec::parse_query(s), Spec::parse_options(s)] {
        match r {
            Ok(spec) => {
                // Whatever parses has a canonical form that parses back to the same spec
                // and is a fixed point.
                let canonical = spec.to_string();
                let again = Spec::parse(&canonical).map_err(|e| e.to_string());
                assert_eq!(
                    again,
                    Ok(spec.clone()),
                    "input {s:?}, canonical {canonical:?}"
                );
                assert_eq!(
                    Spec::parse_query(&spec.to_query()).map_err(|e| e.to_string()),
                    Ok(spec.clone()),
                    "input {s:?}"
                );
                assert_eq!(spec.is_identity(), canonical.is_empty(), "input {s:?}");
            }
            Err(e) => {
                // Every error from the parser is the client's fault and renders.
                assert_eq!(e.kind(), crate::ErrorKind::BadSpec, "input {s:?}: {e}");
                assert!(matches!(
                    e.code(),
                    "unknown_option" | "duplicate_option" | "invalid_value" | "malformed_spec"
                ));
                let _ = e.to_string();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_round_trip(s in arb_spec()) {
        let canonical = s.to_string();
        prop_assert_eq!(Spec::parse(&canonical).map_err(|e| e.to_string()), Ok(s.clone()));
        prop_assert_eq!(Spec::parse_options(&canonical).map_err(|e| e.to_string()), Ok(s.clone()));
        let query = s.to_query();
        prop_assert_eq!(Spec::parse_query(&query).map_err(|e| e.to_string()), Ok(s.clone()));
        prop_assert_eq!(Spec::parse(&query).map_err(|e| e.to_string()), Ok(s.clone()));
        prop_assert_eq!(Spec::parse(&format!("?{query}")).map_err(|e| e.to_string()), Ok(s.clone()));
        // Canonical strings are URL-safe and a fixed point.
        prop_assert!(
            canonical.bytes().all(|b| b.is_ascii_alphanumeric() || b"=,.;%-_~".contains(&b)),
            "{}", canonical
        );
        prop_assert_eq!(query.replace('&', ","), canonical.clone());
        prop_assert_eq!(s.is_identity(), canonical.is_empty());
    }

    #[test]
    fn canonical_round_trip_in_any_order(s in arb_spec(), seed in any::<u64>(), amp in any::<bool>()) {
        // The parser does not care about order.
        let canonical = s.to_string();
        let mut parts: Vec<&str> = if canonical.is_empty() { vec![] } else { canonical.split(',').collect() };
        shuffle(&mut parts, seed);
        let joined = parts.join(if amp { "&" } else { "," });
        prop_assert_eq!(Spec::parse(&joined).map_err(|e| e.to_string()), Ok(s.clone()));
        prop_assert_eq!(Spec::parse(&joined).map(|x| x.to_string()).ok(), Some(canonical));
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,80}") {
        parse_all_three(&s);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        parse_all_three(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_url_alphabet_never_panics(s in "[a-z0-9=&,;%.()#+?x -]{0,80}") {
        parse_all_three(&s);
    }

    #[test]
    fn random_option_lists_never_panic(
        pairs in proptest::collection::vec(
            (
                prop::sample::select(option_names().collect::<Vec<_>>()),
                arb_value(),
                0u8..10,
            ),
            0..8,
        ),
        sep in prop::sample::select(vec!["&", ",", "&&", ",&"]),
        prefix in any::<bool>(),
    ) {
        let parts: Vec<String> = pairs
            .iter()
            .map(|(k, v, shape)| match shape {
                0 => (*k).to_owned(),         // no '='
                1 => format!("{k}={v}={v}"), // '=' in the value
                _ => format!("{k}={v}"),
            })
            .collect();
        let s = format!("{}{}", if prefix { "?" } else { "" }, parts.join(sep));
        parse_all_three(&s);
    }

    #[test]
    fn valid_non_canonical_lists_canonicalise(
        mut parts in arb_valid_parts(),
        seed in any::<u64>(),
        amp in any::<bool>(),
    ) {
        shuffle(&mut parts, seed);
        let s = parts.join(if amp { "&" } else { "," });
        let spec = Spec::parse(&s).map_err(|e| e.to_string());
        prop_assert!(spec.is_ok(), "{:?}: {:?}", s, spec);
        let spec = spec.unwrap_or_default();
        // The other grammar agrees (values never contain the separator outside parentheses).
        let other = if amp { Spec::parse_query(&s) } else { Spec::parse_options(&s) };
        prop_assert_eq!(other.map_err(|e| e.to_string()), Ok(spec.clone()));
        // The canonical form is a fixed point and parses back to the same spec.
        let canonical = spec.to_string();
        prop_assert_eq!(Spec::parse(&canonical).map_err(|e| e.to_string()), Ok(spec.clone()), "{}", canonical);
        prop_assert_eq!(Spec::parse_query(&spec.to_query()).map_err(|e| e.to_string()), Ok(spec.clone()));
        prop_assert_eq!(Spec::parse(&canonical).map(|x| x.to_string()).ok(), Some(canonical.clone()));
        prop_assert_eq!(spec.is_identity(), canonical.is_empty());
    }
}

#[test]
fn a_version_changes_identity_but_no_pixel() {
    let spec = ok("v=3");
    assert!(!spec.is_identity());
    assert!(spec.changes_nothing());
    assert_eq!(spec.to_string(), "v=3");
    assert!(!ok("v=3&w=10").changes_nothing());
    assert!(ok("").changes_nothing());
    for bad in ["", "a b", "x/y", "%2F", &"z".repeat(65)] {
        let e = Spec::parse_query(&format!("v={bad}")).unwrap_err();
        assert_eq!(e.code(), "invalid_value", "{bad:?}");
    }
    assert_eq!(
        Spec::parse_query("v=1&version=2").unwrap_err().code(),
        "duplicate_option"
    );
}
