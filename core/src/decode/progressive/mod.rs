//! Progressive JPEGs decoded at 1/2, 1/4 or 1/8 scale, keeping only the coefficients that
//! scale uses (issue 13), written from ITU-T T.81 (Annex G for progressive coding).
//!
//! jpeg-decoder keeps every coefficient of a progressive file at full size until its last
//! scan (128 bytes per 8×8 block per component), whatever the scale: 100 MiB and more for a
//! 16 MP photo. A scaled IDCT of k×k pixels per block (k = 8 / shrink) reads only the
//! top-left k×k coefficients, so this decoder keeps those (32, 8 or 2 bytes per block), one
//! history bit per block for the few other positions that refinement scans need to stay in
//! step ([`store`]), and does not decode scans that cannot change the kept coefficients.
//!
//! Scope: 8-bit progressive Huffman frames (SOF2) of 1 or 3 components with integer sampling
//! ratios. Anything else is "not handled" (`Ok(None)`), decided from the frame header alone,
//! and decoded by jpeg-decoder; corrupt data is an error, never a panic. Every buffer's size is
//! computed from the headers and checked against [`Limits`] before it is allocated
//! ([`Allocation`]).

mod color;
mod huffman;
mod idct;
mod markers;
mod scan;
mod store;

pub use store::Allocation;

use markers::{Frame, Huffman, Quant, Scan};
use store::{Blocks, History, Layout};

use crate::{Error, Limits};

/// A file with more scans than this is refused: a real one has 10 or so (at most 64 positions
/// times 14 bit planes per component are meaningful), and each scan visits every block.
const MAX_SCANS: usize = 1000;

fn bad(reason: &'static str) -> Error {
    Error::undecodable("JPEG", reason)
}

/// Pixels per block side at a shrink: 4, 2, 1 for 2, 4, 8.
fn pixels_per_block(shrink: u32) -> Option<usize> {
    match shrink {
        2 => Some(4),
        4 => Some(2),
        8 => Some(1),
        _ => None,
    }
}

/// Whether this decoder reads `bytes` at a reduced scale (a progressive JPEG whose frame it
/// supports), from the headers only.
pub(crate) fn handles(bytes: &[u8]) -> bool {
    matches!(markers::frame(bytes), Ok(Some(_)))
}

/// An upper bound of the bytes per 8×8 block (per component) this decoder holds at `shrink`:
/// the kept coefficients, the planes they become, and at most one history bit for every other
/// position. `None` for a shrink it does not decode (1).
pub(crate) fn bytes_per_block(shrink: u32) -> Option<u64> {
    let k = pixels_per_block(shrink)? as u64;
    // At 1/8 only DC is kept and no AC scan is decoded, so there is no history.
    let history_bits = if k == 1 { 0 } else { 64 - k * k };
    Some(3 * k * k + history_bits.div_ceil(8))
}

/// Everything known from the headers before any buffer is allocated.
struct Prepared {
    frame: Frame,
    layout: Layout,
    scans: Vec<Scan>,
    decode: Vec<bool>,
    history: Vec<u64>,
    allocation: Allocation,
}

fn prepare(bytes: &[u8], k: usize) -> Result<Option<Prepared>, Error> {
    let Some(frame) = markers::frame(bytes).map_err(bad)? else {
        return Ok(None);
    };
    let scans = read_scans(bytes, &frame).map_err(bad)?;
    let layout = Layout::new(k);
    let (decode, history) = store::plan(&scans, frame.comps.len(), &layout);
    let allocation = Allocation::new(&frame, &layout, &history);
    Ok(Some(Prepared {
        frame,
        layout,
        scans,
        decode,
        history,
        allocation,
    }))
}

/// The scan headers after the frame header, and where each scan's data ends. The file must
/// end with EOI, as jpeg-decoder requires.
fn read_scans(bytes: &[u8], frame: &Frame) -> Result<Vec<Scan>, &'static str> {
    let mut scans = Vec::new();
    let mut frames = 0;
    let mut pos = 2;
    while let Some(seg) = markers::segment(bytes, pos)? {
        match seg.marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                frames += 1;
                if frames > 1 {
                    return Err("more than one frame header");
                }
            }
            markers::SOS => {
                if scans.len() == MAX_SCANS {
                    return Err("too many scans");
                }
                let mut scan = markers::sos(&bytes[seg.body.0..seg.body.1], frame, seg.next)?;
                scan.data.1 = markers::entropy_end(bytes, seg.next);
                pos = scan.data.1;
                scans.push(scan);
                continue;
            }
            markers::EOI => return Ok(scans),
            _ => {}
        }
        pos = seg.next;
    }
    Err("the file ends before its EOI marker")
}

/// The bytes [`decode`] would allocate for `bytes` at `shrink`, from the headers alone, or
/// `None` when it leaves the file to jpeg-decoder.
pub fn allocation(bytes: &[u8], shrink: u32) -> Result<Option<Allocation>, Error> {
    let Some(k) = pixels_per_block(shrink) else {
        return Ok(None);
    };
    Ok(prepare(bytes, k)?.map(|p| p.allocation))
}

/// The decoded image: RGB, `width` × `height` (the full size divided by the shrink, rounded up).
#[derive(Debug)]
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// What was allocated, counted from the buffers themselves (the tests compare it with
    /// [`allocation`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub allocated: Allocation,
}

/// Decodes a progressive JPEG at `1 / shrink` (2, 4 or 8). `Ok(None)`: not a file this decoder
/// reads (see the module documentation); the caller decodes it another way.
pub(crate) fn decode(bytes: &[u8], shrink: u32, limits: &Limits) -> Result<Option<Decoded>, Error> {
    match pixels_per_block(shrink) {
        Some(k) => decode_at(bytes, k, limits),
        None => Ok(None),
    }
}

/// Decodes with `k` × `k` pixels per block (8 is full size: the tests compare every
/// coefficient that way).
fn decode_at(bytes: &[u8], k: usize, limits: &Limits) -> Result<Option<Decoded>, Error> {
    let shrink = 8 / k;
    let Some(p) = prepare(bytes, k)? else {
        return Ok(None);
    };
    limits.check_input_dimensions(p.frame.width, p.frame.height)?;
    let peak = p.allocation.peak();
    if peak > limits.max_decode_alloc() {
        return Err(Error::TooCostly {
            resource: crate::Resource::Memory,
            what: format!(
                "a progressive JPEG of {}x{} at 1/{shrink}",
                p.frame.width, p.frame.height
            ),
            estimate: peak,
            limit: limits.max_decode_alloc(),
        });
    }
    let mut blocks: Vec<Blocks> = (0..p.frame.comps.len())
        .map(|c| {
            let (across, down, coded_across, coded_down) = store::block_counts(&p.frame, c);
            let n = (across * down) as usize;
            Blocks {
                across: across as usize,
                down: down as usize,
                coded_across: coded_across as usize,
                coded_down: coded_down as usize,
                coefs: vec![0; n * p.layout.kk],
                history: History::new(n, p.history[c]),
                quant: None,
            }
        })
        .collect();
    decode_scans(bytes, &p, &mut blocks).map_err(bad)?;
    let mut allocated = Allocation::default();
    for b in &blocks {
        allocated.coefficients += b.coefs.capacity() as u64 * 2;
        allocated.history += b.history.bytes();
    }
    let k = p.layout.k;
    let planes: Vec<color::Plane> = blocks
        .iter()
        .enumerate()
        .map(|(c, b)| {
            let stride = b.across * k;
            let mut pixels = vec![0u8; stride * b.down * k];
            idct::component(b, &p.layout, &mut pixels);
            let (width, height) = color::scaled_size(&p.frame, c, k);
            let comp = p.frame.comps[c];
            color::Plane {
                pixels,
                stride,
                width,
                height,
                ratio: (
                    (p.frame.hmax / comp.h) as usize,
                    (p.frame.vmax / comp.v) as usize,
                ),
            }
        })
        .collect();
    drop(blocks);
    allocated.planes = planes.iter().map(|p| p.pixels.capacity() as u64).sum();
    let width = (u64::from(p.frame.width) * k as u64).div_ceil(8) as usize;
    let height = (u64::from(p.frame.height) * k as u64).div_ceil(8) as usize;
    let rgb = color::to_rgb(p.frame.colour, &planes, width, height);
    allocated.output = rgb.capacity() as u64 + color::row_bytes(width as u64, planes.len() as u64);
    Ok(Some(Decoded {
        width: width as u32,
        height: height as u32,
        rgb,
        allocated,
    }))
}

/// The second walk over the segments: tables as they come, and each scan the plan decodes.
fn decode_scans(bytes: &[u8], p: &Prepared, blocks: &mut [Blocks]) -> Result<(), &'static str> {
    let mut quant: Quant = [None; 4];
    let mut tables = Huffman::default();
    let mut restart_interval = 0;
    let mut next_scan = 0;
    let mut pos = 2;
    while let Some(seg) = markers::segment(bytes, pos)? {
        let body = &bytes[seg.body.0..seg.body.1];
        match seg.marker {
            markers::DQT => markers::dqt(body, &mut quant)?,
            markers::DHT => markers::dht(body, &mut tables)?,
            markers::DRI => restart_interval = markers::dri(body)?,
            markers::SOS => {
                let (Some(scan), Some(&wanted)) = (p.scans.get(next_scan), p.decode.get(next_scan))
                else {
                    return Err("the file changed between two readings");
                };
                next_scan += 1;
                for &c in &scan.comps[..scan.count] {
                    if blocks[c].quant.is_none() {
                        let table = quant[p.frame.comps[c].tq];
                        blocks[c].quant =
                            Some(table.ok_or("a component's quantization table is not defined")?);
                    }
                }
                if wanted {
                    let data = &bytes[scan.data.0..scan.data.1];
                    let truncated = scan.data.1 == bytes.len();
                    let bits = huffman::Bits::new(data, truncated);
                    scan::decode(
                        scan,
                        &p.frame,
                        &p.layout,
                        &tables,
                        restart_interval,
                        bits,
                        blocks,
                    )?;
                }
                pos = scan.data.1;
                continue;
            }
            markers::EOI => return Ok(()),
            _ => {}
        }
        pos = seg.next;
    }
    Err("the file ends before its EOI marker")
}

#[cfg(test)]
mod tests;
