//! Everything [`crate::transform`] checks before it allocates pixels: the header, the plan,
//! the output format (`format=auto` stepped down within the CPU cap) and the cost.

use crate::decode;
use crate::error::Resource;
use crate::{
    cost, negotiate, Context, Cost, Error, Format, Header, OutputFormat, Plan, Policy, Quality,
    Spec,
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
    limits.check_input_bytes(input.len())?;
    let header = decode::probe(input, limits)?;
    let plan = Plan::new(header.width, header.height, header.orientation, spec)?;
    let (cw, ch) = (u64::from(plan.canvas.0), u64::from(plan.canvas.1));
    limits.check_output_dimensions(
        cw.max(u64::from(plan.resize.0)),
        ch.max(u64::from(plan.resize.1)),
    )?;
    let accept = ctx.accept.unwrap_or("");
    let may_have_alpha = header.alpha
        || (plan.canvas != plan.resize && spec.background.is_some_and(|bg| bg.0[3] < 255));
    let mut preference = ctx.policy.auto_preference(accept, plan.canvas);
    let (format, cost) = loop {
        let format = choose_format(spec, preference, may_have_alpha, plan.canvas)?;
        let cost = cost::estimate(input.len(), &header, &plan, format, &ctx.policy);
        if cost.cpu_ms <= ctx.policy.max_cpu_ms || spec.format != Some(Format::Auto) {
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
pub(crate) fn choose_format(
    spec: &Spec,
    preference: negotiate::Preference,
    has_alpha: bool,
    canvas: (u32, u32),
) -> Result<OutputFormat, Error> {
    let fallback = if has_alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg {
            progressive: progressive_jpeg(canvas),
        }
    };
    let lossless = spec.quality == Some(Quality::Value(100));
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
            progressive: progressive_jpeg(canvas),
        },
        Some(Format::BaselineJpeg) => OutputFormat::Jpeg { progressive: false },
        Some(Format::Png) => OutputFormat::Png,
        Some(Format::Json) => OutputFormat::Json,
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
