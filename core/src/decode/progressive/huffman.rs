//! Huffman tables (ITU-T T.81 Annex C and F.2.2.3) and the bit reader of entropy-coded data
//! (byte stuffing, F.1.2.3; markers end a segment, B.1.1.2).

/// Codes up to this many bits are found with one table look-up.
const FAST_BITS: u32 = 9;

/// One decoding table, built from a DHT segment's code lengths and values.
#[derive(Clone)]
pub(super) struct Table {
    /// Indexed by the next `FAST_BITS` bits: `length << 8 | value`, or 0 when the code is longer.
    fast: Vec<u16>,
    /// By code length (1 to 16): the largest code of that length, or -1 when there is none.
    max_code: [i32; 17],
    /// By code length: what to add to a code of that length to get its index in `values`.
    offset: [i32; 17],
    values: Vec<u8>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Table {
    /// Assigns the canonical codes (C.2): by increasing length, consecutive values, each length
    /// starting at twice the code after the previous length's last one.
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Result<Table, &'static str> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || total != values.len() {
            return Err("Huffman table with a wrong number of values");
        }
        let mut table = Table {
            fast: vec![0; 1 << FAST_BITS],
            max_code: [-1; 17],
            offset: [0; 17],
            values: values.to_vec(),
        };
        let mut code: u32 = 0;
        let mut index: u32 = 0;
        for len in 1..=16u32 {
            let n = u32::from(counts[len as usize - 1]);
            table.offset[len as usize] = index as i32 - code as i32;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err("Huffman table with more codes than its lengths allow");
                }
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let entry = (len as u16) << 8 | u16::from(values[index as usize]);
                    let first = (code << shift) as usize;
                    table.fast[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                index += 1;
            }
            if n > 0 {
                table.max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(table)
    }
}

/// Reads bits from one scan's entropy-coded data, most significant first, with the stuffed
/// zero byte after each 0xFF removed. At a marker (or at the end of the data) it supplies zero
/// bits, as decoders do for a segment that ends early; running out of the *file* that way is an
/// error ([`Bits::overrun`]).
#[derive(Debug)]
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// The next bits, left-aligned.
    acc: u64,
    /// How many bits of `acc` are valid.
    n: u32,
    /// Zero bits appended after the data ended (they are the last `padded` bits of `acc`).
    padded: u32,
    /// A marker (or the end of `data`) was reached: no more bytes until [`Bits::restart`].
    stopped: bool,
    /// `data` ends where the file does, not at a marker.
    truncated: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], truncated: bool) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            acc: 0,
            n: 0,
            padded: 0,
            stopped: false,
            truncated,
        }
    }

    fn refill(&mut self) {
        // Fast path: the next eight bytes hold no 0xFF (no stuffing, no marker), so as many
        // whole bytes as fit go in at once.
        if !self.stopped {
            if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let word = u64::from_be_bytes(word);
                // A byte of `!word` is zero exactly where `word` has 0xFF.
                let inv = !word;
                let has_ff = inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
                if has_ff == 0 {
                    let bytes = (64 - self.n) / 8;
                    let bits = bytes * 8;
                    let fresh = if bits == 64 {
                        word
                    } else {
                        word >> (64 - bits) << (64 - bits)
                    };
                    self.acc |= fresh >> self.n;
                    self.n += bits;
                    self.pos += bytes as usize;
                    return;
                }
            }
        }
        while self.n <= 56 {
            let byte = if self.stopped {
                self.padded += 8;
                0
            } else {
                match self.data.get(self.pos) {
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        self.pos += 2;
                        0xFF
                    }
                    Some(&0xFF) | None => {
                        self.stopped = true;
                        continue;
                    }
                    Some(&b) => {
                        self.pos += 1;
                        b
                    }
                }
            };
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    /// Whether bits past the end of a truncated file were used: the scan is cut short.
    pub(super) fn overrun(&self) -> bool {
        self.truncated && self.padded > self.n
    }

    /// The next `count` (0 to 16) bits as a number.
    #[inline]
    pub(super) fn get(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        if self.n < count {
            self.refill();
        }
        let v = (self.acc >> (64 - count)) as u32;
        self.acc <<= count;
        self.n -= count;
        v
    }

    #[inline]
    pub(super) fn bit(&mut self) -> bool {
        self.get(1) == 1
    }

    /// `count` bits as a signed difference (F.2.2.1, EXTEND).
    #[inline]
    pub(super) fn extend(&mut self, count: u32) -> i32 {
        if count == 0 {
            return 0;
        }
        let v = self.get(count) as i32;
        if v < 1 << (count - 1) {
            v - (1 << count) + 1
        } else {
            v
        }
    }

    /// The next Huffman-coded value.
    #[inline]
    pub(super) fn decode(&mut self, t: &Table) -> Result<u8, &'static str> {
        if self.n < 16 {
            self.refill();
        }
        let entry = t.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        if entry != 0 {
            let len = u32::from(entry >> 8);
            self.acc <<= len;
            self.n -= len;
            return Ok(entry as u8);
        }
        for len in FAST_BITS + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= t.max_code[len as usize] {
                let value = t
                    .values
                    .get((code + t.offset[len as usize]) as usize)
                    .copied()
                    .ok_or("bad Huffman code")?;
                self.acc <<= len;
                self.n -= len;
                return Ok(value);
            }
        }
        Err("bad Huffman code")
    }

    /// At the end of a restart interval: drops the buffered bits and reads the `RSTn` marker
    /// that must come next, `n` being `expected`.
    pub(super) fn restart(&mut self, expected: u8) -> Result<(), &'static str> {
        if self.overrun() {
            return Err("the file ends inside a scan");
        }
        self.acc = 0;
        self.n = 0;
        self.padded = 0;
        self.stopped = false;
        // Skip what is left of the interval (normally nothing) up to the next marker.
        while let Some(off) = self.data[self.pos..].iter().position(|&b| b == 0xFF) {
            let mut i = self.pos + off;
            match self.data.get(i + 1) {
                Some(0) => self.pos = i + 2,
                Some(_) => {
                    while self.data.get(i + 1) == Some(&0xFF) {
                        i += 1;
                    }
                    if self.data.get(i + 1) != Some(&(0xD0 + expected)) {
                        return Err("a restart marker is missing or out of order");
                    }
                    self.pos = i + 2;
                    return Ok(());
                }
                None => break,
            }
        }
        Err("a restart marker is missing")
    }
}
