//! Marker segments (ITU-T T.81 Annex B): walking them, the frame header, quantization and
//! Huffman tables, restart intervals, scan headers, and where a scan's entropy-coded data ends.

use super::huffman::Table;

pub(super) const SOI: u8 = 0xD8;
pub(super) const EOI: u8 = 0xD9;
pub(super) const SOS: u8 = 0xDA;
pub(super) const DQT: u8 = 0xDB;
pub(super) const DHT: u8 = 0xC4;
pub(super) const DRI: u8 = 0xDD;
/// Progressive DCT, Huffman coding: the only frame type this decoder reads.
pub(super) const SOF2: u8 = 0xC2;

/// Zigzag index → natural (row-major) index of a coefficient in its 8×8 block (Figure A.6).
pub(super) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One marker and its parameters: `body` is the segment after its length field (empty for
/// markers without one); the next segment starts at `next`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub marker: u8,
    pub body: (usize, usize),
    pub next: usize,
}

/// The segment at or after `pos`: bytes that are not a marker are skipped, as other decoders
/// do; fill bytes (0xFF) before a marker too. `None` at the end of the file.
pub(super) fn segment(bytes: &[u8], pos: usize) -> Result<Option<Segment>, &'static str> {
    let Some(off) = bytes
        .get(pos..)
        .and_then(|b| b.iter().position(|&x| x == 0xFF))
    else {
        return Ok(None);
    };
    let mut i = pos + off;
    while bytes.get(i + 1) == Some(&0xFF) {
        i += 1;
    }
    let Some(&marker) = bytes.get(i + 1) else {
        return Ok(None);
    };
    if marker == 0 || marker == 0x01 || (0xD0..=0xD9).contains(&marker) {
        // A stray stuffed byte, TEM, RSTn, SOI or EOI: no length field.
        let next = i + 2;
        return Ok(Some(Segment {
            marker,
            body: (next, next),
            next,
        }));
    }
    let len = match bytes.get(i + 2..i + 4) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err("the file ends inside a marker segment"),
    };
    let next = i + 2 + len;
    if len < 2 || next > bytes.len() {
        return Err("a marker segment runs past the end of the file");
    }
    Ok(Some(Segment {
        marker,
        body: (i + 4, next),
        next,
    }))
}

/// Where the entropy-coded data that starts at `from` ends: at the first marker other than
/// `RSTn` (or at the end of the file, when it is cut short).
pub(super) fn entropy_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(off) = bytes
        .get(i..)
        .and_then(|b| b.iter().position(|&x| x == 0xFF))
    {
        let j = i + off;
        match bytes.get(j + 1) {
            Some(0x00 | 0xD0..=0xD7) => i = j + 2,
            Some(_) => return j,
            None => return bytes.len(),
        }
    }
    bytes.len()
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// How the three components of a colour image are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Colour {
    Grey,
    YCbCr,
    Rgb,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Component {
    pub id: u8,
    pub h: u32,
    pub v: u32,
    pub tq: usize,
}

/// The frame header of a progressive JPEG this decoder reads.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub width: u32,
    pub height: u32,
    pub comps: Vec<Component>,
    pub hmax: u32,
    pub vmax: u32,
    pub mcus_x: u32,
    pub mcus_y: u32,
    pub colour: Colour,
}

/// Reads the segments up to the frame header. `Ok(None)`: a JPEG this decoder leaves to
/// another (not progressive Huffman, not 8-bit, not 1 or 3 components, sampling factors that
/// are not integer ratios, a colour transform it does not know).
pub(super) fn frame(bytes: &[u8]) -> Result<Option<Frame>, &'static str> {
    if bytes.get(..2) != Some(&[0xFF, SOI]) {
        return Err("no SOI marker");
    }
    let (mut jfif, mut adobe) = (false, None);
    let mut pos = 2;
    while let Some(seg) = segment(bytes, pos)? {
        let body = &bytes[seg.body.0..seg.body.1];
        match seg.marker {
            0xE0 if body.starts_with(b"JFIF\0") => jfif = true,
            0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => adobe = Some(body[11]),
            SOF2 => return Ok(parse_frame(body, jfif, adobe)),
            // Any other frame type: baseline, extended, lossless, hierarchical, arithmetic.
            0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            SOS => return Err("a scan before the frame header"),
            EOI => break,
            _ => {}
        }
        pos = seg.next;
    }
    Err("no frame header")
}

fn parse_frame(b: &[u8], jfif: bool, adobe: Option<u8>) -> Option<Frame> {
    let (precision, height, width, n) = (*b.first()?, be16(b, 1)?, be16(b, 3)?, *b.get(5)?);
    // Height 0 defers it to a DNL marker; leave that (and 12-bit, CMYK) to the other decoder.
    if precision != 8 || height == 0 || width == 0 || !(n == 1 || n == 3) {
        return None;
    }
    let mut comps = Vec::with_capacity(usize::from(n));
    for c in b.get(6..6 + 3 * usize::from(n))?.chunks_exact(3) {
        let (h, v, tq) = (u32::from(c[1] >> 4), u32::from(c[1] & 15), c[2]);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
            return None;
        }
        comps.push(Component {
            id: c[0],
            h,
            v,
            tq: usize::from(tq),
        });
    }
    let hmax = comps.iter().map(|c| c.h).max()?;
    let vmax = comps.iter().map(|c| c.v).max()?;
    if comps.iter().any(|c| hmax % c.h != 0 || vmax % c.v != 0) {
        return None;
    }
    // The rules jpeg-decoder applies, so both decoders agree on the colours.
    let colour = match comps.iter().map(|c| c.id).collect::<Vec<_>>()[..] {
        [_] => Colour::Grey,
        [1, 2, 3] => Colour::YCbCr,
        [b'R', b'G', b'B'] => Colour::Rgb,
        [1, 34, 35] | [b'r', b'g', b'b'] => return None, // big-gamut transforms
        _ if jfif => Colour::YCbCr,
        _ if adobe == Some(0) => Colour::Rgb,
        _ => Colour::YCbCr,
    };
    Some(Frame {
        width: u32::from(width),
        height: u32::from(height),
        mcus_x: u32::from(width).div_ceil(8 * hmax),
        mcus_y: u32::from(height).div_ceil(8 * vmax),
        comps,
        hmax,
        vmax,
        colour,
    })
}

/// Quantization tables by destination, in natural order.
pub(super) type Quant = [Option<[u16; 64]>; 4];

pub(super) fn dqt(mut b: &[u8], tables: &mut Quant) -> Result<(), &'static str> {
    while let Some((&pq_tq, rest)) = b.split_first() {
        let (wide, tq) = (pq_tq >> 4, usize::from(pq_tq & 15));
        let size = if wide == 0 { 64 } else { 128 };
        if wide > 1 || tq > 3 || rest.len() < size {
            return Err("bad quantization table");
        }
        let mut t = [0u16; 64];
        for (i, &z) in ZIGZAG.iter().enumerate() {
            t[usize::from(z)] = if wide == 0 {
                u16::from(rest[i])
            } else {
                u16::from_be_bytes([rest[2 * i], rest[2 * i + 1]])
            };
        }
        tables[tq] = Some(t);
        b = &rest[size..];
    }
    Ok(())
}

/// Huffman tables by class (0: DC, 1: AC) and destination.
pub(super) type Huffman = [[Option<Table>; 4]; 2];

pub(super) fn dht(mut b: &[u8], tables: &mut Huffman) -> Result<(), &'static str> {
    while let Some((&tc_th, rest)) = b.split_first() {
        let (class, th) = (usize::from(tc_th >> 4), usize::from(tc_th & 15));
        if class > 1 || th > 3 || rest.len() < 16 {
            return Err("bad Huffman table");
        }
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&rest[..16]);
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = rest.get(16..16 + total).ok_or("bad Huffman table")?;
        tables[class][th] = Some(Table::new(&counts, values)?);
        b = &rest[16 + total..];
    }
    Ok(())
}

pub(super) fn dri(b: &[u8]) -> Result<u32, &'static str> {
    match b {
        [x, y] => Ok(u32::from(u16::from_be_bytes([*x, *y]))),
        _ => Err("bad restart interval"),
    }
}

/// A scan header (B.2.3) and where its entropy-coded data lies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan {
    /// Frame component indices, `count` of them.
    pub comps: [usize; 4],
    pub count: usize,
    /// Huffman table destinations (DC for DC scans, AC for AC scans), per scan component.
    pub tables: [usize; 4],
    pub ss: usize,
    pub se: usize,
    pub ah: u32,
    pub al: u32,
    pub data: (usize, usize),
}

impl Scan {
    pub(super) fn is_dc(&self) -> bool {
        self.ss == 0
    }

    /// The spectral band as a mask of zigzag positions.
    pub(super) fn band(&self) -> u64 {
        let width = self.se - self.ss + 1;
        let ones = if width == 64 { !0 } else { (1u64 << width) - 1 };
        ones << self.ss
    }
}

/// Parses a scan header (checking it against G.1.1.1.1) whose data starts at `data_start`.
pub(super) fn sos(b: &[u8], frame: &Frame, data_start: usize) -> Result<Scan, &'static str> {
    let n = usize::from(*b.first().ok_or("bad scan header")?);
    if !(1..=4).contains(&n) || b.len() != 4 + 2 * n {
        return Err("bad scan header");
    }
    let mut scan = Scan {
        comps: [0; 4],
        count: n,
        tables: [0; 4],
        ss: usize::from(b[1 + 2 * n]),
        se: usize::from(b[2 + 2 * n]),
        ah: u32::from(b[3 + 2 * n] >> 4),
        al: u32::from(b[3 + 2 * n] & 15),
        data: (data_start, data_start),
    };
    let mut blocks = 0;
    for (i, c) in b[1..1 + 2 * n].chunks_exact(2).enumerate() {
        let index = frame
            .comps
            .iter()
            .position(|f| f.id == c[0])
            .ok_or("a scan names a component the frame does not have")?;
        if scan.comps[..i].contains(&index) {
            return Err("a scan names a component twice");
        }
        scan.comps[i] = index;
        let (td, ta) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        scan.tables[i] = if scan.ss == 0 { td } else { ta };
        if td > 3 || ta > 3 {
            return Err("bad Huffman table destination");
        }
        blocks += frame.comps[index].h * frame.comps[index].v;
    }
    let dc_ok = scan.ss == 0 && scan.se == 0;
    let ac_ok = scan.ss > 0 && scan.se >= scan.ss && scan.se <= 63 && n == 1;
    if !(dc_ok || ac_ok) {
        return Err("bad spectral selection in a progressive scan");
    }
    if scan.ah > 13 || scan.al > 13 || (scan.ah > 0 && scan.al + 1 != scan.ah) {
        return Err("bad successive approximation in a progressive scan");
    }
    if n > 1 && blocks > 10 {
        return Err("too many blocks in an MCU");
    }
    Ok(scan)
}
