//! What the decoder keeps per block at a reduced scale, and which scans it reads.
//!
//! An IDCT scaled to k×k output pixels per 8×8 block (k = 8 / shrink) uses only the
//! coefficients of the top-left k×k corner of the block: those are kept (`i16`, natural order
//! within the corner). The others are never stored, but an AC refinement scan (G.1.2.3) needs to
//! know, for every position of its band, whether the coefficient there is already nonzero: it
//! reads a correction bit for those and counts the others in its run lengths. So for each
//! position outside the corner that some later refinement scan covers, one bit per block
//! records that history. A scan whose band lies wholly outside the corner, and whose positions
//! no later refinement scan needs, is not decoded at all.

use super::markers::{Frame, Scan, ZIGZAG};

/// Marks a zigzag position that has no slot (or no history bit).
pub(super) const NONE: u8 = u8::MAX;

/// The coefficients a k×k scaled IDCT needs, by zigzag position.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub k: usize,
    /// `k * k`: coefficients kept per block.
    pub kk: usize,
    /// Zigzag position → index of its slot in a block's `k * k` coefficients, or [`NONE`].
    pub slot: [u8; 64],
    /// The zigzag positions with a slot, as a mask.
    pub needed: u64,
    /// Slot → its zigzag position (the first `kk` entries).
    pub zigzag_of_slot: [u8; 64],
}

impl Layout {
    pub(super) fn new(k: usize) -> Layout {
        let mut slot = [NONE; 64];
        let mut zigzag_of_slot = [0; 64];
        let mut needed = 0;
        for (zz, &natural) in ZIGZAG.iter().enumerate() {
            let (row, col) = (usize::from(natural) / 8, usize::from(natural) % 8);
            if row < k && col < k {
                slot[zz] = (row * k + col) as u8;
                zigzag_of_slot[row * k + col] = zz as u8;
                needed |= 1 << zz;
            }
        }
        Layout {
            k,
            kk: k * k,
            slot,
            needed,
            zigzag_of_slot,
        }
    }
}

/// Which scans to decode, and per component which positions outside the k×k corner need a
/// history bit. Worked backwards: a refinement scan that is decoded needs the history of its
/// whole band, so every earlier scan touching those positions must be decoded too.
pub(super) fn plan(scans: &[Scan], components: usize, layout: &Layout) -> (Vec<bool>, Vec<u64>) {
    let mut history = vec![0u64; components];
    let mut decode = vec![false; scans.len()];
    for (i, scan) in scans.iter().enumerate().rev() {
        if scan.is_dc() {
            decode[i] = true; // the DC coefficient is always needed
            continue;
        }
        let c = scan.comps[0];
        let band = scan.band();
        decode[i] = band & (layout.needed | history[c]) != 0;
        if decode[i] && scan.ah > 0 {
            history[c] |= band & !layout.needed;
        }
    }
    (decode, history)
}

/// One bit per block for each tracked position, packed: block `b`'s bits are `b * width` to
/// `b * width + width - 1` of `words`, in the order of the positions' zigzag indices.
#[derive(Debug)]
pub(super) struct History {
    /// Zigzag position → its bit within a block's bits, or [`NONE`].
    pub rank: [u8; 64],
    /// Bit → its zigzag position (the first `width` entries).
    pub zigzag_of_rank: [u8; 64],
    width: u32,
    words: Vec<u64>,
}

impl History {
    /// Bits for `blocks` blocks of the positions in `tracked` (never position 0).
    pub(super) fn words_for(blocks: u64, tracked: u64) -> u64 {
        (blocks * u64::from(tracked.count_ones())).div_ceil(64)
    }

    pub(super) fn new(blocks: usize, tracked: u64) -> History {
        let mut rank = [NONE; 64];
        let mut zigzag_of_rank = [0; 64];
        let mut width = 0;
        for (zz, r) in rank.iter_mut().enumerate() {
            if tracked >> zz & 1 == 1 {
                *r = width as u8;
                zigzag_of_rank[width as usize] = zz as u8;
                width += 1;
            }
        }
        History {
            rank,
            zigzag_of_rank,
            width,
            words: vec![0; History::words_for(blocks as u64, tracked) as usize],
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.words.len() as u64 * 8
    }

    /// The bits of block `b`.
    #[inline]
    pub(super) fn get(&self, b: usize) -> u64 {
        if self.width == 0 {
            return 0;
        }
        let bit = b * self.width as usize;
        let (w, shift) = (bit / 64, bit % 64);
        let mut v = self.words.get(w).copied().unwrap_or(0) >> shift;
        if shift + self.width as usize > 64 {
            v |= self.words.get(w + 1).copied().unwrap_or(0) << (64 - shift);
        }
        v & ((1u64 << self.width) - 1)
    }

    /// Sets bits of block `b` (never clears them: a coefficient, once nonzero, stays so).
    #[inline]
    pub(super) fn set(&mut self, b: usize, bits: u64) {
        if self.width == 0 || bits == 0 {
            return;
        }
        let bit = b * self.width as usize;
        let (w, shift) = (bit / 64, bit % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word |= bits << shift;
        }
        if shift + self.width as usize > 64 {
            if let Some(word) = self.words.get_mut(w + 1) {
                *word |= bits >> (64 - shift);
            }
        }
    }
}

/// One component's blocks: the kept coefficients and the history bits.
#[derive(Debug)]
pub(super) struct Blocks {
    /// Blocks across and down, padded to whole MCUs as interleaved scans code them.
    pub across: usize,
    pub down: usize,
    /// Blocks across and down that a scan of this component alone codes (A.2.2).
    pub coded_across: usize,
    pub coded_down: usize,
    pub coefs: Vec<i16>,
    pub history: History,
    /// The quantization table in effect at the component's first scan, in natural order.
    pub quant: Option<[u16; 64]>,
}

/// Blocks across and down of component `c`: padded to whole MCUs, and as coded alone.
pub(super) fn block_counts(frame: &Frame, c: usize) -> (u64, u64, u64, u64) {
    let comp = frame.comps[c];
    let across = u64::from(frame.mcus_x * comp.h);
    let down = u64::from(frame.mcus_y * comp.v);
    let w = u64::from(frame.width * comp.h).div_ceil(u64::from(frame.hmax));
    let h = u64::from(frame.height * comp.v).div_ceil(u64::from(frame.vmax));
    (across, down, w.div_ceil(8), h.div_ceil(8))
}

/// The bytes the decoder allocates, computed from the headers before anything is allocated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocation {
    /// The kept coefficients: `k * k` of 2 bytes per block.
    pub coefficients: u64,
    /// The history bits of positions outside the kept corner.
    pub history: u64,
    /// The component planes at the reduced scale: `k * k` bytes per block.
    pub planes: u64,
    /// The RGB output and the rows used to upsample chroma into it.
    pub output: u64,
}

impl Allocation {
    pub(super) fn new(frame: &Frame, layout: &Layout, history: &[u64]) -> Allocation {
        let mut a = Allocation::default();
        let kk = layout.kk as u64;
        for (c, &tracked) in history.iter().enumerate() {
            let (across, down, _, _) = block_counts(frame, c);
            let blocks = across * down;
            a.coefficients += blocks * kk * 2;
            a.history += History::words_for(blocks, tracked) * 8;
            a.planes += blocks * kk;
        }
        let k = layout.k as u64;
        let (w, h) = (
            (u64::from(frame.width) * k).div_ceil(8),
            (u64::from(frame.height) * k).div_ceil(8),
        );
        a.output = w * h * 3 + super::color::row_bytes(w, frame.comps.len() as u64);
        a
    }

    /// The most held at once: coefficients, history and planes while the IDCT runs, then the
    /// planes and the output (the coefficients are freed first).
    pub fn peak(&self) -> u64 {
        (self.coefficients + self.history + self.planes).max(self.planes + self.output)
    }
}
