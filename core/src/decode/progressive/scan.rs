//! Decoding one progressive scan (ITU-T T.81 G.1.2): DC first and refinement scans
//! (interleaved or not), AC first and refinement scans (one component), end-of-band runs,
//! restart intervals. Coefficients inside the kept k×k corner are stored; outside it, only
//! whether they became nonzero, for the positions [`super::store::plan`] tracks.

use super::huffman::{Bits, Table};
use super::markers::{Frame, Huffman, Scan};
use super::store::{Blocks, Layout, NONE};

type Fail = &'static str;

struct State<'a, 'b> {
    bits: Bits<'a>,
    eobrun: u32,
    pred: [i32; 4],
    layout: &'b Layout,
}

/// Decodes `scan`, whose entropy-coded data `bits` reads, into `blocks`.
pub(super) fn decode(
    scan: &Scan,
    frame: &Frame,
    layout: &Layout,
    tables: &Huffman,
    restart_interval: u32,
    bits: Bits,
    blocks: &mut [Blocks],
) -> Result<(), Fail> {
    let class = usize::from(!scan.is_dc());
    let mut t: [Option<&Table>; 4] = [None; 4];
    if !(scan.is_dc() && scan.ah > 0) {
        // DC refinement reads raw bits; every other scan needs its tables.
        for (i, slot) in t.iter_mut().enumerate().take(scan.count) {
            *slot = Some(
                tables[class][scan.tables[i]]
                    .as_ref()
                    .ok_or("a scan uses an undefined Huffman table")?,
            );
        }
    }
    let mut st = State {
        bits,
        eobrun: 0,
        pred: [0; 4],
        layout,
    };
    let mut mcus: u32 = 0;
    let mut next_rst: u8 = 0;
    let unit = |st: &mut State, blocks: &mut [Blocks], i: usize, b: usize| {
        let plane = &mut blocks[scan.comps[i]];
        match (scan.is_dc(), scan.ah > 0, t[i]) {
            (true, false, Some(t)) => dc_first(st, plane, i, b, t, scan.al),
            (true, true, _) => {
                dc_refine(st, plane, b, scan.al);
                Ok(())
            }
            (false, false, Some(t)) => ac_first(st, plane, b, t, scan),
            (false, true, Some(t)) => ac_refine(st, plane, b, t, scan),
            _ => Err("a scan uses an undefined Huffman table"),
        }
    };
    let mut restart = |st: &mut State| -> Result<(), Fail> {
        if restart_interval > 0 && mcus > 0 && mcus % restart_interval == 0 {
            st.bits.restart(next_rst)?;
            next_rst = (next_rst + 1) & 7;
            st.eobrun = 0;
            st.pred = [0; 4];
        }
        mcus = mcus.wrapping_add(1);
        Ok(())
    };
    if scan.count == 1 {
        // One component: its blocks in raster order, each its own MCU (A.2.2).
        let plane = &blocks[scan.comps[0]];
        let (across, coded_across, coded_down) =
            (plane.across, plane.coded_across, plane.coded_down);
        for by in 0..coded_down {
            for bx in 0..coded_across {
                restart(&mut st)?;
                unit(&mut st, blocks, 0, by * across + bx)?;
            }
            if st.bits.overrun() {
                return Err("the file ends inside a scan");
            }
        }
    } else {
        for my in 0..frame.mcus_y as usize {
            for mx in 0..frame.mcus_x as usize {
                restart(&mut st)?;
                for i in 0..scan.count {
                    let comp = frame.comps[scan.comps[i]];
                    let (h, v) = (comp.h as usize, comp.v as usize);
                    let across = blocks[scan.comps[i]].across;
                    for y in 0..v {
                        for x in 0..h {
                            unit(&mut st, blocks, i, (my * v + y) * across + mx * h + x)?;
                        }
                    }
                }
            }
            if st.bits.overrun() {
                return Err("the file ends inside a scan");
            }
        }
    }
    Ok(())
}

fn dc_first(
    st: &mut State,
    plane: &mut Blocks,
    i: usize,
    b: usize,
    t: &Table,
    al: u32,
) -> Result<(), Fail> {
    let s = u32::from(st.bits.decode(t)?);
    if s > 11 {
        return Err("bad DC difference");
    }
    st.pred[i] = st.pred[i].wrapping_add(st.bits.extend(s));
    if let Some(c) = plane.coefs.get_mut(b * st.layout.kk) {
        *c = st.pred[i].wrapping_shl(al) as i16;
    }
    Ok(())
}

fn dc_refine(st: &mut State, plane: &mut Blocks, b: usize, al: u32) {
    if st.bits.bit() {
        if let Some(c) = plane.coefs.get_mut(b * st.layout.kk) {
            *c |= 1 << al;
        }
    }
}

fn ac_first(
    st: &mut State,
    plane: &mut Blocks,
    b: usize,
    t: &Table,
    scan: &Scan,
) -> Result<(), Fail> {
    if st.eobrun > 0 {
        st.eobrun -= 1;
        return Ok(());
    }
    let base = b * st.layout.kk;
    let mut became_nonzero = 0u64;
    let mut k = scan.ss;
    while k <= scan.se {
        let rs = st.bits.decode(t)?;
        let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
        if s == 0 {
            if r < 15 {
                // EOBRUN: this block and the next ones end here.
                st.eobrun = (1 << r) - 1 + st.bits.get(r);
                break;
            }
            k += 16;
            continue;
        }
        k += r as usize;
        let value = st.bits.extend(s);
        if k > scan.se {
            return Err("a coefficient past the end of the spectral band");
        }
        let slot = st.layout.slot[k];
        if slot != NONE {
            if let Some(c) = plane.coefs.get_mut(base + usize::from(slot)) {
                *c = value.wrapping_shl(scan.al) as i16;
            }
        } else if plane.history.rank[k] != NONE {
            became_nonzero |= 1 << plane.history.rank[k];
        }
        k += 1;
    }
    plane.history.set(b, became_nonzero);
    Ok(())
}

/// AC refinement (G.1.2.3): new coefficients of magnitude 1 << Al in the zero-history positions
/// a run length skips to, and one correction bit for every nonzero-history position passed.
/// Works on a mask of the block's nonzero-history positions (zigzag order), so that only those
/// positions and the run lengths cost anything.
fn ac_refine(
    st: &mut State,
    plane: &mut Blocks,
    b: usize,
    t: &Table,
    scan: &Scan,
) -> Result<(), Fail> {
    let layout = st.layout;
    let base = b * layout.kk;
    let Some(coefs) = plane.coefs.get_mut(base..base + layout.kk) else {
        return Err("a block outside the image");
    };
    let history = &plane.history;
    let mut nonzero = 0u64;
    for (s, &c) in coefs.iter().enumerate() {
        if c != 0 {
            nonzero |= 1 << layout.zigzag_of_slot[s];
        }
    }
    let mut hist = history.get(b);
    while hist != 0 {
        nonzero |= 1 << history.zigzag_of_rank[hist.trailing_zeros() as usize];
        hist &= hist - 1;
    }
    let p1: i16 = 1i16.wrapping_shl(scan.al);
    // Reads a correction bit for each position of `mask`, in order.
    let correct = |mut mask: u64, coefs: &mut [i16], bits: &mut Bits| {
        while mask != 0 {
            let zz = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if bits.bit() {
                let slot = layout.slot[zz];
                if let Some(c) = coefs.get_mut(usize::from(slot)) {
                    if *c & p1 == 0 {
                        *c = if *c >= 0 {
                            c.wrapping_add(p1)
                        } else {
                            c.wrapping_sub(p1)
                        };
                    }
                }
            }
        }
    };
    let from = |k: usize| if k >= 64 { 0 } else { !0u64 << k };
    let band_end = from(scan.se + 1);
    let mut became_nonzero = 0u64;
    let mut k = scan.ss;
    if st.eobrun == 0 {
        while k <= scan.se {
            let rs = st.bits.decode(t)?;
            let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
            let mut value = 0i16;
            if s == 0 {
                if r < 15 {
                    st.eobrun = (1 << r) + st.bits.get(r);
                    break;
                }
                // ZRL: sixteen zero-history coefficients are skipped.
            } else {
                if s != 1 {
                    return Err("bad value in an AC refinement scan");
                }
                value = if st.bits.bit() { p1 } else { p1.wrapping_neg() };
            }
            // The (r+1)-th zero-history position from k on, passing nonzero-history ones.
            let mut zeros = !nonzero & from(k) & !band_end;
            for _ in 0..r {
                zeros &= zeros.wrapping_sub(1);
            }
            if zeros == 0 {
                correct(nonzero & from(k) & !band_end, coefs, &mut st.bits);
                k = scan.se + 1;
                break;
            }
            let target = zeros.trailing_zeros() as usize;
            correct(nonzero & from(k) & !from(target), coefs, &mut st.bits);
            if value != 0 {
                nonzero |= 1 << target;
                let slot = layout.slot[target];
                if let Some(c) = coefs.get_mut(usize::from(slot)) {
                    *c = value;
                } else if history.rank[target] != NONE {
                    became_nonzero |= 1 << history.rank[target];
                }
            }
            k = target + 1;
        }
    }
    if st.eobrun > 0 {
        // The rest of the band is zero-history except where a correction bit is due.
        correct(nonzero & from(k) & !band_end, coefs, &mut st.bits);
        st.eobrun -= 1;
    }
    plane.history.set(b, became_nonzero);
    Ok(())
}
