//! Everything [`crate::transform`] checks before it allocates pixels: the header, the plan,
//! the output format (`format=auto` stepped down within the CPU cap) and the cost.

use crate::decode;
use crate::error::Resource;
use crate::spec::Compression;
use crate::{
    anim, cost, negotiate, Context, Cost, Error, Format, Header, OutputFormat, Plan, Policy,
    Quality, Spec,
};

/// What a transform would do and cost, known from the header before any pixel is decoded.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub header: Header,
    pub plan: Plan,
    /// What `format=auto` resolved to, within the caps.
    pub preference: negotiate::Preference,
    /// The output format; where it depends on transparency not known before decoding (the
    /// JPEG/PNG fallback), the costlier of the two.
    pub format: OutputFormat,
    pub cost: Cost,
}

/// Reads the header, plans, resolves `format=auto` within [`Policy::max_cpu_ms`] and
/// estimates the cost, without decoding: everything [`transform`] checks before it allocates
/// pixels. A request over [`Limits`], over [`Policy::max_cpu_ms`] or over
/// [`Limits::max_memory_bytes`] is an error here. Hosts call it to budget memory and CPU before
/// they hand the work to a thread (or to decide to hand it elsewhere).
pub fn estimate(input: &[u8], spec: &Spec, ctx: &Context) -> Result<Estimate, Error> {
    let limits = &ctx.limits;
    let policy = ctx.policy.for_spec(spec);
    limits.check_input_bytes(input.len())?;
    let header = decode::probe(input, limits)?;
    let plan = Plan::new(header.width, header.height, header.orientation, spec)?;
    let [bt, br, bb, bl] = spec.border.map_or([0; 4], |b| b.device_widths(spec.dpr));
    let (cw, ch) = (
        u64::from(plan.canvas.0) + u64::from(bl) + u64::from(br),
        u64::from(plan.canvas.1) + u64::from(bt) + u64::from(bb),
    );
    limits.check_output_dimensions(
        cw.max(u64::from(plan.resize.0)),
        ch.max(u64::from(plan.resize.1)),
    )?;
    let accept = ctx.accept.unwrap_or("");
    let may_have_alpha = header.alpha
        || (plan.canvas != plan.resize && spec.background.is_some_and(|bg| bg.0[3] < 255))
        || spec.border.is_some_and(|b| b.color.0[3] < 255);
    let animated = (header.animation.is_some() && spec.anim).then_some(header.format);
    let mut preference = policy.auto_preference(accept, plan.canvas);
    let (format, cost) = loop {
        let format = choose_format(spec, preference, may_have_alpha, plan.canvas, animated)?;
        let cost = match (header.animation, spec.format) {
            (_, Some(Format::Json | Format::Placeholder)) => cost::estimate(
                input.len(),
                &header,
                &plan.preview(crate::placeholder::PREVIEW, spec),
                OutputFormat::Png,
                &policy,
            ),
            (Some(info), _) if animated.is_some() && anim::animates(format) => {
                info.check_animation(&header, limits)?;
                anim::estimate(input.len(), &header, &plan, format, &policy, &info)
            }
            _ => cost::estimate(input.len(), &header, &plan, format, &policy),
        };
        if cost.cpu_ms <= policy.max_cpu_ms || spec.format != Some(Format::Auto) {
            break (format, cost);
        }
        match Policy::step_down(accept, preference) {
            Some(cheaper) => preference = cheaper,
            None => break (format, cost),
        }
    };
    let what = || {
        format!(
            "{} of {:.1} MP from {:.1} MP",
            format.name(),
            cost.output_pixels as f64 / 1e6,
            f64::from(header.width) * f64::from(header.height) / 1e6
        )
    };
    if cost.cpu_ms > ctx.policy.max_cpu_ms {
        return Err(Error::TooCostly {
            resource: Resource::Cpu,
            what: what(),
            estimate: cost.cpu_ms,
            limit: ctx.policy.max_cpu_ms,
        });
    }
    if cost.memory_bytes > limits.max_memory_bytes {
        return Err(Error::TooCostly {
            resource: Resource::Memory,
            what: what(),
            estimate: cost.memory_bytes,
            limit: limits.max_memory_bytes,
        });
    }
    Ok(Estimate {
        header,
        plan,
        preference,
        format,
        cost,
    })
}

/// Picks the output format from the spec, what `format=auto` resolved to, and the image.
/// An `animated` input (its format, when it is kept animated: `anim=true`) asks for a format
/// that animates: WebP for `format=auto` when the client takes it, else GIF; without a
/// format, its own (an animated WebP stays WebP, a GIF stays GIF). An explicit still format
/// (JPEG, PNG, AVIF) gets the first frame.
pub(crate) fn choose_format(
    spec: &Spec,
    preference: negotiate::Preference,
    has_alpha: bool,
    canvas: (u32, u32),
    animated: Option<crate::InputFormat>,
) -> Result<OutputFormat, Error> {
    let lossless = spec.quality == Some(Quality::Value(100));
    if let Some(input) = animated {
        let webp = OutputFormat::Webp { lossless };
        let animates = match spec.format {
            None if input == crate::InputFormat::Webp && webp.available() => Some(webp),
            None | Some(Format::Gif) => Some(OutputFormat::Gif),
            Some(Format::Webp) => Some(webp),
            Some(Format::Auto) if preference != negotiate::Preference::Fallback => {
                Some(webp).filter(|w| w.available())
            }
            Some(Format::Auto) => Some(OutputFormat::Gif),
            _ => None,
        };
        if let Some(f) = animates {
            if !f.available() {
                return Err(Error::UnsupportedOutput { format: f.name() });
            }
            return Ok(f);
        }
    }
    // compression=fast: format=auto takes the quickest encoder, the JPEG/PNG fallback.
    let preference = if spec.compression == Compression::Fast {
        negotiate::Preference::Fallback
    } else {
        preference
    };
    let fallback = if has_alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg {
            progressive: progressive_jpeg(canvas) && spec.compression != Compression::Fast,
        }
    };
    let chosen = match spec.format {
        None => fallback,
        Some(Format::Auto) => match preference {
            negotiate::Preference::Avif => OutputFormat::Avif,
            negotiate::Preference::Webp => OutputFormat::Webp { lossless },
            negotiate::Preference::Fallback => fallback,
        },
        Some(Format::Avif) => OutputFormat::Avif,
        Some(Format::Webp) => OutputFormat::Webp { lossless },
        Some(Format::Jpeg) => OutputFormat::Jpeg {
            progressive: progressive_jpeg(canvas) && spec.compression != Compression::Fast,
        },
        Some(Format::BaselineJpeg) => OutputFormat::Jpeg { progressive: false },
        Some(Format::Png) => OutputFormat::Png,
        Some(Format::Gif) => OutputFormat::Gif,
        Some(Format::Json) => OutputFormat::Json,
        // A few hundred bytes to inline: WebP where this build has it, PNG otherwise.
        Some(Format::Placeholder) => Some(OutputFormat::Webp { lossless: false })
            .filter(|w| w.available())
            .unwrap_or(OutputFormat::Png),
    };
    if !chosen.available() {
        return Err(Error::UnsupportedOutput {
            format: chosen.name(),
        });
    }
    Ok(chosen)
}

/// `format=jpeg` is progressive, except for tiny (< 150×150) or huge (> 3000×3000) areas,
/// as Cloudflare documents.
fn progressive_jpeg((w, h): (u32, u32)) -> bool {
    let area = u64::from(w) * u64::from(h);
    (150 * 150..=3000 * 3000).contains(&area)
}
