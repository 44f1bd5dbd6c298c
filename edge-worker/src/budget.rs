//! The edge budget: whether one request fits in a Workers isolate (128 MB of memory, a CPU-time
//! limit per request). Decided from sizes and the image header, before any pixel exists; a
//! request over budget goes to the native origin, or gets the core error that names the limit.

use refract_core::decode::Header;
use refract_core::{Cost, Error, Format, InputFormat, Plan, Resource, Spec};

use crate::config::Budget;

/// Refuses an original larger than the budget, from its stored size, before downloading it.
pub fn check_size(bytes: u64, budget: &Budget) -> Result<(), Error> {
    if bytes > budget.max_input_bytes {
        return Err(Error::InputTooLarge {
            bytes,
            limit: budget.max_input_bytes,
        });
    }
    Ok(())
}

/// Checks what decoding and encoding this request would cost, from the header, the plan and
/// the core's estimate ([`refract_core::estimate`], which has already refused what is over
/// the CPU cap).
pub fn check_plan(
    header: &Header,
    plan: &Plan,
    cost: &Cost,
    spec: &Spec,
    budget: &Budget,
) -> Result<(), Error> {
    let (cw, ch) = (u64::from(plan.canvas.0), u64::from(plan.canvas.1));
    // JSON and placeholders decode too (for the ThumbHash), at a thumbnail's shrink.
    let thumbnail = matches!(spec.format, Some(Format::Json | Format::Placeholder));
    let (w, h) = if thumbnail {
        decoded_size(
            header,
            &plan.preview(refract_core::placeholder::PREVIEW, spec),
        )
    } else {
        decoded_size(header, plan)
    };
    if u64::from(w) * u64::from(h) > budget.max_decode_pixels {
        // The message names the stored size: that is what the client can change.
        return Err(Error::TooManyPixels {
            width: header.width,
            height: header.height,
            limit: budget.max_decode_pixels,
        });
    }
    // An upscale costs memory like a decode: the output buffer is as large.
    if !thumbnail && cw * ch > budget.max_decode_pixels {
        return Err(Error::OutputTooManyPixels {
            width: cw,
            height: ch,
            limit: budget.max_decode_pixels,
        });
    }
    if cost.memory_bytes > budget.max_memory_bytes {
        return Err(Error::TooCostly {
            resource: Resource::Memory,
            what: format!(
                "{}x{} {}",
                header.width,
                header.height,
                header.format.name()
            ),
            estimate: cost.memory_bytes,
            limit: budget.max_memory_bytes,
        });
    }
    if spec.format == Some(Format::Avif) && cw * ch > budget.max_avif_pixels {
        return Err(Error::OutputTooManyPixels {
            width: cw,
            height: ch,
            limit: budget.max_avif_pixels,
        });
    }
    Ok(())
}

/// The size the decoder will produce: JPEGs shrink on load by the plan's factor (the DCT
/// scaling rounds up), everything else decodes whole.
pub fn decoded_size(header: &Header, plan: &Plan) -> (u32, u32) {
    match header.format {
        InputFormat::Jpeg => (
            header.width.div_ceil(plan.shrink),
            header.height.div_ceil(plan.shrink),
        ),
        _ => (header.width, header.height),
    }
}

#[cfg(test)]
mod tests;
