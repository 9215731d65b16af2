//! Exact, mergeable, order-independent summaries of `f64` series.
//!
//! A [`FloatSummary`] keeps, for one series, the number of points, the last point,
//! the minimum and maximum, and the *exact* sums of the finite values and of their
//! squares. [`FloatSummary::finalize`] returns the average and the population
//! variance correctly rounded (round to nearest, ties to even) from those exact
//! sums, so every finalized value is bit-for-bit the same whatever the order of the
//! points, the split of the input into parts and the order in which partial
//! summaries are merged.
//!
//! # Representation of an exact sum
//!
//! Every finite `f64` is an integer multiple of 2^-1074, so the square of one is a
//! multiple of 2^-2148, and so is any sum of values and squares. An [`ExactSum`]
//! holds such a sum as the integer `N = sum · 2^2148`, written in base 2^32 with
//! *signed* `i64` digits ("chunks"):
//!
//! ```text
//! N = Σ_i chunks[i] · 2^(32·(lo + i))
//! ```
//!
//! Only the run of chunks `lo .. lo + len` that values have touched is stored (up to
//! six chunks inline, more on the heap). Adding `x = ±m·2^e` (`m` the integer
//! significand, at most 53 bits) adds `m` shifted left by `e + 2148` bits, cut at
//! 32-bit boundaries, into 3 chunks; adding `x²` adds the 106-bit `m²` shifted by
//! `2e + 2148` into 5 chunks. These are integer additions taken from the bits of
//! `x`: nothing is rounded, so the sum is exact. Every piece is below 2^32, so an
//! `i64` chunk absorbs 2^31 of them; a counter of additions since the last carry
//! propagation triggers one before that bound is reached (merges add the
//! counters), so chunks never overflow. The largest square of a finite `f64` is
//! below 2^2048 = 2^4196 units, so the sum of 2^64 of them stays below chunk 134,
//! and every chunk index lies in `0..CHUNK_LIMIT`.
//!
//! # Canonical form
//!
//! The same value has many chunk representations (a carry may sit in either of
//! two chunks). [`ExactSum::to_parts`] returns the unique *canonical* one: every
//! chunk has the sign of the value and a magnitude below 2^32 (the base-2^32
//! digits of `|N|`, each multiplied by the sign), the lowest and the highest chunk
//! are non-zero, and zero is `(0, [])`. Equal values give equal parts, so summaries
//! stored after any order of additions and merges are identical.
//!
//! # Finalization
//!
//! [`mean`] and [`variance`] carry-propagate the chunks into the magnitude of `N`
//! (base 2^64 limbs), take a window of its top bits wide enough for the quotient
//! to have at least 55 significant bits (plus a sticky bit for everything below),
//! divide it by `n` (for the variance the numerator is `n·Q − S²`, divided by `n`
//! twice), and round the quotient once with round-to-nearest-even, subnormals and
//! overflow included. The variance numerator is computed in a fixed 640-bit
//! integer when the sums are small (the common case: values of similar magnitude)
//! and with `num-bigint` otherwise; both give the same exact integer.
//!
//! # Limits
//!
//! Counts are `u64`. The exact sums stay exact while their magnitude is below
//! 2^2204 (chunk `CHUNK_LIMIT`), that is for up to 2^156 squares of `f64::MAX`, far
//! more than a `u64` count can describe. A merged count that would exceed
//! `u64::MAX` saturates, and the average is then no longer exact. Negative values
//! whose mean or variance rounds to zero give `-0.0` (IEEE rounding of a negative
//! value); an exact zero gives `0.0`.

#![forbid(unsafe_code)]
// The module's API is whole; the engine uses part of it (its tests use the rest).
#![allow(dead_code)]

use std::cmp::Ordering;
use std::fmt;

use super::series::canonical;

use num_bigint::BigUint;

/// The unit of an [`ExactSum`] is 2^-`UNIT_SHIFT`: the square of the smallest subnormal.
const UNIT_SHIFT: i64 = 2148;

/// Chunk indices of an [`ExactSum`] lie in `0..CHUNK_LIMIT` (bit weights 2^-2148 up
/// to 2^2204, room for sums of 2^156 squares of `f64::MAX`).
pub const CHUNK_LIMIT: i32 = 136;

/// Carry propagation happens before the count of additions since the last one
/// passes this bound. With `|chunk| ≤ (pending + 1)·(2^32 − 1)` this keeps every
/// chunk below 2^63 in magnitude, also during a merge.
const PENDING_LIMIT: u32 = (1 << 31) - 2;

/// Values of a series whose sums [`FloatSummary::add_run`] gathers at once (below 2^10,
/// so that the fixed-point sums cannot overflow).
const RUN_BLOCK: usize = 1000;

/// Number of chunks stored inline, without a heap allocation.
const INLINE: usize = 6;

/// Number of limbs a magnitude keeps on the stack during finalization.
const SMALL_LIMBS: usize = 8;

/// Width, in 64-bit limbs, of the fixed-size integers of the variance fast path.
const FIXED_LIMBS: usize = 10;

const DIGIT_MASK: u64 = 0xFFFF_FFFF;

/// An error decoding serialized parts ([`ExactSum::from_parts`],
/// [`FloatSummary::from_parts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartsError {
    /// The run of chunks does not lie within `0..CHUNK_LIMIT`.
    ChunkRange {
        /// The index of the first chunk.
        lo: i32,
        /// The number of chunks.
        len: usize,
    },
    /// After carry propagation the value needs chunks at or above `CHUNK_LIMIT`.
    ValueRange,
    /// A summary must hold at least one point.
    ZeroCount,
}

impl fmt::Display for PartsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartsError::ChunkRange { lo, len } => write!(
                f,
                "exact sum chunks {lo}..{lo}+{len} lie outside 0..{CHUNK_LIMIT}"
            ),
            PartsError::ValueRange => {
                write!(f, "exact sum value needs chunks beyond index {CHUNK_LIMIT}")
            }
            PartsError::ZeroCount => write!(f, "a float summary must count at least one point"),
        }
    }
}

impl std::error::Error for PartsError {}

/// The chunk run: inline up to `INLINE` chunks, else on the heap.
#[derive(Clone, Debug)]
enum Chunks {
    Inline { len: u8, buf: [i64; INLINE] },
    Heap(Vec<i64>),
}

impl Chunks {
    const EMPTY: Chunks = Chunks::Inline {
        len: 0,
        buf: [0; INLINE],
    };

    #[inline]
    fn as_slice(&self) -> &[i64] {
        match self {
            Chunks::Inline { len, buf } => &buf[..*len as usize],
            Chunks::Heap(v) => v,
        }
    }

    #[inline]
    fn as_mut_slice(&mut self) -> &mut [i64] {
        match self {
            Chunks::Inline { len, buf } => &mut buf[..*len as usize],
            Chunks::Heap(v) => v,
        }
    }

    /// A run of `len` chunks holding `cur` at offset `off` and zeros elsewhere.
    fn window(len: usize, off: usize, cur: &[i64]) -> Chunks {
        if len <= INLINE {
            let mut buf = [0; INLINE];
            buf[off..off + cur.len()].copy_from_slice(cur);
            Chunks::Inline { len: len as u8, buf }
        } else {
            let mut v = Vec::with_capacity(len);
            v.resize(off, 0);
            v.extend_from_slice(cur);
            v.resize(len, 0);
            Chunks::Heap(v)
        }
    }
}

/// The exact sum of finite `f64` values and of squares of finite `f64` values.
///
/// See the module documentation for the representation. Additions and merges are
/// exact and commutative, so the value (and its canonical [`to_parts`] form) does
/// not depend on their order.
///
/// [`to_parts`]: ExactSum::to_parts
#[derive(Clone, Debug)]
pub struct ExactSum {
    /// Index of the first stored chunk.
    lo: i32,
    /// Additions (pieces of at most 2^32 − 1 per chunk) since the last carry propagation.
    pending: u32,
    chunks: Chunks,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for ExactSum {
    /// Equality of the exact values.
    fn eq(&self, other: &Self) -> bool {
        self.to_parts() == other.to_parts()
    }
}

impl Eq for ExactSum {}

/// `target[j] ±= pieces[j]`.
#[inline(always)]
fn add_into<const N: usize>(target: &mut [i64], pieces: [i64; N], neg: bool) {
    if neg {
        for (c, p) in target.iter_mut().zip(pieces) {
            *c -= p;
        }
    } else {
        for (c, p) in target.iter_mut().zip(pieces) {
            *c += p;
        }
    }
}

/// Splits a finite non-zero `x` into `(negative, m, e)` with `|x| = m·2^e`.
#[inline]
fn decompose(x: f64) -> Option<(bool, u64, i64)> {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7FF) as i64;
    if biased == 0x7FF {
        return None;
    }
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return None;
    }
    Some((bits >> 63 != 0, m, e))
}

impl ExactSum {
    /// The exact sum zero.
    pub const fn new() -> Self {
        ExactSum {
            lo: 0,
            pending: 0,
            chunks: Chunks::EMPTY,
        }
    }

    /// Adds the finite value `x` exactly. Non-finite values are ignored: callers
    /// track NaN and infinities separately (as [`FloatSummary`] does).
    #[inline]
    pub fn add(&mut self, x: f64) {
        if let Some((neg, m, e)) = decompose(x) {
            self.add_decomposed(neg, m, e);
        }
    }

    /// Adds `x²` exactly for a finite `x`. Non-finite values are ignored.
    #[inline]
    pub fn add_square(&mut self, x: f64) {
        if let Some((_, m, e)) = decompose(x) {
            self.add_square_decomposed(m, e);
        }
    }

    #[inline]
    fn add_decomposed(&mut self, neg: bool, m: u64, e: i64) {
        // Bit position of m's lowest bit in units of 2^-2148: at least 1074.
        let p = e + UNIT_SHIFT;
        let v = (m as u128) << (p & 31);
        let pieces = [
            (v as u64 & DIGIT_MASK) as i64,
            ((v >> 32) as u64 & DIGIT_MASK) as i64,
            (v >> 64) as i64,
        ];
        self.add_pieces((p >> 5) as i32, pieces, neg);
    }

    #[inline]
    fn add_square_decomposed(&mut self, m: u64, e: i64) {
        let m2 = (m as u128) * (m as u128); // below 2^106
        let p = 2 * e + UNIT_SHIFT; // at least 0
        let s = (p & 31) as u32;
        let low = m2 << s; // the bits of m2·2^s below 2^128
        let high = if s == 0 { 0 } else { m2 >> (128 - s) };
        let pieces = [
            (low as u64 & DIGIT_MASK) as i64,
            ((low >> 32) as u64 & DIGIT_MASK) as i64,
            ((low >> 64) as u64 & DIGIT_MASK) as i64,
            ((low >> 96) as u64 & DIGIT_MASK) as i64,
            high as i64,
        ];
        self.add_pieces((p >> 5) as i32, pieces, false);
    }

    /// Adds `±(words as a 256-bit integer)·2^e` exactly (`e + 2148 >= 0`).
    #[inline]
    fn add_wide(&mut self, neg: bool, words: [u64; 4], e: i64) {
        let p = e + UNIT_SHIFT;
        debug_assert!(p >= 0);
        let r = (p & 31) as u32;
        // The words shifted left by r (below 32): five words, nine 32-bit pieces.
        let mut shifted = [0u64; 5];
        for (i, out) in shifted.iter_mut().enumerate() {
            let this = if i < 4 { words[i] << r } else { 0 };
            let below = if i > 0 && r > 0 {
                words[i - 1] >> (64 - r)
            } else {
                0
            };
            *out = this | below;
        }
        let pieces: [i64; 9] =
            std::array::from_fn(|j| ((shifted[j / 2] >> (32 * (j % 2))) & DIGIT_MASK) as i64);
        // Only the span of non-zero pieces: the run of chunks grows no wider than the value
        // needs (a few chunks, held inline).
        let Some(first) = pieces.iter().position(|&x| x != 0) else {
            return;
        };
        let last = pieces.iter().rposition(|&x| x != 0).expect("a non-zero piece");
        let k = (p >> 5) as i32 + first as i32;
        let span = &pieces[first..=last];
        if self.pending >= PENDING_LIMIT {
            self.reduce();
        }
        self.pending += 1;
        if !self.covers(k, span.len()) {
            self.grow(k, span.len());
        }
        let off = (k - self.lo) as usize;
        let target = &mut self.chunks.as_mut_slice()[off..off + span.len()];
        for (c, &x) in target.iter_mut().zip(span) {
            if neg {
                *c -= x;
            } else {
                *c += x;
            }
        }
    }

    /// Adds `±pieces[j]·2^(32·(k + j))`, each piece below 2^32.
    #[inline]
    fn add_pieces<const N: usize>(&mut self, k: i32, pieces: [i64; N], neg: bool) {
        if self.pending >= PENDING_LIMIT {
            self.reduce();
        }
        self.pending += 1;
        if !self.covers(k, N) {
            self.grow(k, N);
        }
        let off = (k - self.lo) as usize;
        add_into(&mut self.chunks.as_mut_slice()[off..off + N], pieces, neg);
    }

    #[inline]
    fn covers(&self, k: i32, n: usize) -> bool {
        k >= self.lo && (k - self.lo) as usize + n <= self.chunks.as_slice().len()
    }

    /// Extends the run to cover chunks `k..k + n`.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, k: i32, n: usize) {
        let cur = self.chunks.as_slice();
        let hi = k + n as i32;
        let (new_lo, new_hi, off) = if cur.is_empty() {
            (k, hi, 0)
        } else {
            let new_lo = self.lo.min(k);
            let new_hi = (self.lo + cur.len() as i32).max(hi);
            (new_lo, new_hi, (self.lo - new_lo) as usize)
        };
        let chunks = Chunks::window((new_hi - new_lo) as usize, off, cur);
        self.chunks = chunks;
        self.lo = new_lo;
    }

    /// Carry-propagates into canonical form (in place).
    #[cold]
    #[inline(never)]
    fn reduce(&mut self) {
        let (lo, chunks) = self.to_parts();
        self.lo = lo;
        self.chunks = Chunks::window(chunks.len(), 0, &chunks);
        self.pending = 0;
    }

    /// Adds `other` exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        let theirs = other.chunks.as_slice();
        if theirs.is_empty() {
            return;
        }
        if self.pending + other.pending + 1 > PENDING_LIMIT {
            self.reduce();
        }
        if !self.covers(other.lo, theirs.len()) {
            self.grow(other.lo, theirs.len());
        }
        let off = (other.lo - self.lo) as usize;
        for (c, &t) in self.chunks.as_mut_slice()[off..off + theirs.len()]
            .iter_mut()
            .zip(theirs)
        {
            *c += t;
        }
        self.pending += other.pending + 1;
        if self.pending > PENDING_LIMIT {
            self.reduce();
        }
    }

    /// Whether the exact value is zero.
    pub fn is_zero(&self) -> bool {
        self.magnitude().limbs().is_empty()
    }

    /// The exact value correctly rounded to `f64` (it may overflow to ±infinity).
    pub fn to_f64(&self) -> f64 {
        mean(self, 1)
    }

    /// The canonical form `(lo, chunks)`: the value is
    /// `Σ chunks[i] · 2^(32·(lo + i) − 2148)`, every chunk has the sign of the value
    /// and magnitude below 2^32, the first and last chunks are non-zero, and zero is
    /// `(0, [])`. Equal values give equal parts.
    pub fn to_parts(&self) -> (i32, Vec<i64>) {
        self.magnitude().to_chunks()
    }

    /// The chunk run as it is held: the exact value, though not in canonical form (a carry
    /// may sit in either of two chunks). [`from_parts`] reads it back exactly; storing it
    /// costs no normalization.
    ///
    /// [`from_parts`]: ExactSum::from_parts
    pub fn raw_parts(&self) -> (i32, &[i64]) {
        (self.lo, self.chunks.as_slice())
    }

    /// Rebuilds an exact sum from `(lo, chunks)` as [`to_parts`] returns them.
    /// Non-canonical chunks (any `i64` values) are accepted and normalized exactly;
    /// an error is returned if the run of chunks, or the normalized value, does not
    /// lie within chunk indices `0..CHUNK_LIMIT`. Never panics.
    ///
    /// [`to_parts`]: ExactSum::to_parts
    pub fn from_parts(lo: i32, chunks: &[i64]) -> Result<Self, PartsError> {
        let range_err = PartsError::ChunkRange {
            lo,
            len: chunks.len(),
        };
        if lo < 0 || lo as i64 + chunks.len() as i64 > CHUNK_LIMIT as i64 {
            return Err(range_err);
        }
        let (lo, canon) = Magnitude::of(lo, chunks).to_chunks();
        if lo as i64 + canon.len() as i64 > CHUNK_LIMIT as i64 {
            return Err(PartsError::ValueRange);
        }
        Ok(ExactSum {
            lo,
            pending: 0,
            chunks: Chunks::window(canon.len(), 0, &canon),
        })
    }

    fn magnitude(&self) -> Magnitude {
        Magnitude::of(self.lo, self.chunks.as_slice())
    }
}

/// Limb storage of a [`Magnitude`]: on the stack when small.
enum LimbBuf {
    Small([u64; SMALL_LIMBS]),
    Big(Vec<u64>),
}

impl LimbBuf {
    fn zeroed(n: usize) -> LimbBuf {
        if n <= SMALL_LIMBS {
            LimbBuf::Small([0; SMALL_LIMBS])
        } else {
            LimbBuf::Big(vec![0; n])
        }
    }

    fn as_slice(&self) -> &[u64] {
        match self {
            LimbBuf::Small(a) => a,
            LimbBuf::Big(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u64] {
        match self {
            LimbBuf::Small(a) => a,
            LimbBuf::Big(v) => v,
        }
    }
}

/// A carry-propagated exact value: `±Σ limbs[j]·2^(64·j + exp)`.
struct Magnitude {
    neg: bool,
    /// Bit weight of the first limb.
    exp: i64,
    buf: LimbBuf,
    /// The non-zero limbs are `buf[start..end]` (empty for zero).
    start: usize,
    end: usize,
}

impl Magnitude {
    /// Carry-propagates `Σ chunks[i]·2^(32·(lo + i) − 2148)` for any `i64` chunks.
    fn of(lo: i32, chunks: &[i64]) -> Magnitude {
        let pairs = chunks.len().div_ceil(2);
        let mut buf = LimbBuf::zeroed(pairs + 1);
        let limbs = &mut buf.as_mut_slice()[..pairs + 1];
        // Two's complement propagation; |carry| stays below 2^32.
        let mut carry: i128 = 0;
        for (slot, pair) in limbs.iter_mut().zip(chunks.chunks(2)) {
            let c1 = if pair.len() > 1 { pair[1] as i128 } else { 0 };
            let v = pair[0] as i128 + (c1 << 32) + carry;
            *slot = v as u64;
            carry = v >> 64;
        }
        let neg = carry < 0;
        if neg {
            // |value| = (−carry − 1)·2^(64·pairs) + (!D + 1), D the propagated limbs.
            let mut inc = 1u64;
            for slot in &mut limbs[..pairs] {
                let (s, o) = (!*slot).overflowing_add(inc);
                *slot = s;
                inc = o as u64;
            }
            limbs[pairs] = (-carry - 1) as u64 + inc;
        } else {
            limbs[pairs] = carry as u64;
        }
        let (start, end) = match limbs.iter().position(|&l| l != 0) {
            Some(s) => (s, limbs.iter().rposition(|&l| l != 0).map_or(s, |e| e + 1)),
            None => (0, 0),
        };
        Magnitude {
            neg: neg && start < end,
            exp: 32 * lo as i64 - UNIT_SHIFT + 64 * start as i64,
            buf,
            start,
            end,
        }
    }

    fn limbs(&self) -> &[u64] {
        &self.buf.as_slice()[self.start..self.end]
    }

    /// The canonical chunks (see [`ExactSum::to_parts`]).
    fn to_chunks(&self) -> (i32, Vec<i64>) {
        let limbs = self.limbs();
        if limbs.is_empty() {
            return (0, Vec::new());
        }
        let sign = if self.neg { -1 } else { 1 };
        let mut lo = (self.exp + UNIT_SHIFT) / 32;
        let mut digits = Vec::with_capacity(2 * limbs.len());
        for &l in limbs {
            digits.push(sign * (l & DIGIT_MASK) as i64);
            digits.push(sign * (l >> 32) as i64);
        }
        if digits.last() == Some(&0) {
            digits.pop();
        }
        if digits[0] == 0 {
            digits.remove(0);
            lo += 1;
        }
        (lo as i32, digits)
    }
}

/// Number of significant bits of a little-endian limb slice.
fn bit_len(limbs: &[u64]) -> i64 {
    match limbs.iter().rposition(|&l| l != 0) {
        Some(i) => 64 * i as i64 + 64 - limbs[i].leading_zeros() as i64,
        None => 0,
    }
}

/// Bits `p .. p + 64` of the little-endian limbs (bits below 0 and above the end are 0).
fn word_at(limbs: &[u64], p: i64) -> u64 {
    if p <= -64 {
        0
    } else if p < 0 {
        limbs.first().map_or(0, |&l| l << (-p))
    } else {
        let i = (p / 64) as usize;
        let off = (p % 64) as u32;
        let lo = limbs.get(i).map_or(0, |&l| l >> off);
        let hi = if off == 0 {
            0
        } else {
            limbs.get(i + 1).map_or(0, |&l| l << (64 - off))
        };
        lo | hi
    }
}

/// Whether any bit below bit `p > 0` is set.
fn low_bits_nonzero(limbs: &[u64], p: i64) -> bool {
    let i = ((p / 64) as usize).min(limbs.len());
    let off = (p % 64) as u32;
    limbs[..i].iter().any(|&l| l != 0)
        || (off > 0 && limbs.get(i).is_some_and(|&l| l & ((1u64 << off) - 1) != 0))
}

/// Divides the 192-bit `a` by `d` in place and returns the remainder.
fn div_rem(a: &mut [u64; 3], d: u64) -> u64 {
    let mut rem: u64 = 0;
    for limb in a.iter_mut().rev() {
        if rem == 0 {
            // A 64-bit division is much cheaper than a 128-bit one.
            let q = *limb / d;
            rem = *limb - q * d;
            *limb = q;
        } else {
            let cur = ((rem as u128) << 64) | *limb as u128;
            let q = cur / d as u128;
            rem = (cur - q * d as u128) as u64;
            *limb = q as u64;
        }
    }
    rem
}

/// Rounds `±(q + δ)·2^exp` to the nearest `f64`, ties to even, where `δ` is 0 if
/// `!sticky` and in `(0, 1)` otherwise. Requires `q ≥ 2^54` when `sticky`.
fn round_to_f64(neg: bool, q: u64, sticky: bool, exp: i64) -> f64 {
    debug_assert!(!sticky || q >> 54 != 0);
    if q == 0 {
        return 0.0;
    }
    let sign = if neg { 1u64 << 63 } else { 0 };
    let bl = 64 - q.leading_zeros() as i64;
    // Weight of the result's last significand bit: 53 bits, or the subnormal grid.
    let mut t = (exp + bl - 53).max(-1074);
    let drop = t - exp;
    let q = q as u128;
    let mut mant = if drop <= 0 {
        // Exact: fewer than 53 significant bits (and no sticky bits).
        (q << -drop) as u64
    } else if drop >= 128 {
        0 // far below half of the smallest subnormal
    } else {
        let m = q >> drop;
        let rem = q & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        let up = rem > half || (rem == half && (sticky || m & 1 == 1));
        (m + up as u128) as u64
    };
    if mant == 1 << 53 {
        mant = 1 << 52;
        t += 1;
    }
    let bits = if mant < 1 << 52 {
        mant // subnormal (t == -1074) or zero
    } else {
        let biased = t + 1075;
        if biased >= 0x7FF {
            0x7FF << 52
        } else {
            ((biased as u64) << 52) | (mant & ((1 << 52) - 1))
        }
    };
    f64::from_bits(sign | bits)
}

/// Correctly rounds `±limbs·2^exp / n^divisions` (`divisions` 1 or 2, `n ≥ 1`).
fn finish(limbs: &[u64], exp: i64, neg: bool, n: u64, divisions: u32) -> f64 {
    let bl = bit_len(limbs);
    if bl == 0 {
        return 0.0;
    }
    let nb = 64 - n.leading_zeros() as i64;
    // A window of w bits over n^divisions (< 2^(divisions·nb)) leaves a quotient in
    // [2^55, 2^58): 53 bits, a rounding bit and a guard bit, plus the sticky bit.
    let w = divisions as i64 * nb + 56;
    let shift = bl - w;
    let mut a = [
        word_at(limbs, shift),
        word_at(limbs, shift + 64),
        word_at(limbs, shift + 128),
    ];
    let mut sticky = shift > 0 && low_bits_nonzero(limbs, shift);
    if divisions == 2 && n >> 32 == 0 {
        sticky |= div_rem(&mut a, n * n) != 0;
    } else {
        // floor(floor(a / n) / n) = floor(a / n²), exact iff both remainders are 0.
        for _ in 0..divisions {
            sticky |= div_rem(&mut a, n) != 0;
        }
    }
    debug_assert!(a[1] == 0 && a[2] == 0 && a[0] >> 55 != 0);
    round_to_f64(neg, a[0], sticky, exp + shift)
}

fn mean_of(s: &Magnitude, n: u64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    finish(s.limbs(), s.exp, s.neg, n, 1)
}

/// The exact `sum / n` correctly rounded to `f64` (round to nearest, ties to even;
/// a negative value that rounds to zero gives `-0.0`, an exact zero `0.0`).
/// NaN if `n == 0`. Never overflows where the true mean is representable.
pub fn mean(sum: &ExactSum, n: u64) -> f64 {
    mean_of(&sum.magnitude(), n)
}

/// The exact population variance `(n·sum_sq − sum²) / n²` correctly rounded to
/// `f64` (it is `0.0` for a constant series and `+inf` if it exceeds `f64::MAX`).
/// NaN if `n == 0` or if the inputs are inconsistent (`n·sum_sq < sum²`, which
/// cannot happen for the sums of `n` real values).
pub fn variance(sum: &ExactSum, sum_sq: &ExactSum, n: u64) -> f64 {
    variance_of(&sum.magnitude(), &sum_sq.magnitude(), n, true)
}

fn variance_of(s: &Magnitude, q: &Magnitude, n: u64, allow_fast: bool) -> f64 {
    if n == 0 || q.neg {
        return f64::NAN;
    }
    let (sl, ql) = (s.limbs(), q.limbs());
    if ql.is_empty() {
        return if sl.is_empty() { 0.0 } else { f64::NAN };
    }
    if sl.is_empty() {
        // (n·Q − 0) / n² = Q / n.
        return finish(ql, q.exp, false, n, 1);
    }
    // n·Q − S² = D·2^e with Q = ql·2^qe, S² = sl²·2^(2·se).
    let e = q.exp.min(2 * s.exp);
    let (q_shift, s_shift) = (q.exp - e, 2 * s.exp - e);
    if allow_fast && let Some(r) = variance_fixed(sl, s_shift, ql, q_shift, e, n) {
        return r;
    }
    let to_big =
        |limbs: &[u64]| BigUint::new(limbs.iter().flat_map(|&l| [l as u32, (l >> 32) as u32]).collect());
    let s_big = to_big(sl);
    let nq = (to_big(ql) * n) << (q_shift as u64);
    let s2 = (&s_big * &s_big) << (s_shift as u64);
    match nq.cmp(&s2) {
        Ordering::Less => f64::NAN,
        Ordering::Equal => 0.0,
        Ordering::Greater => finish(&(nq - s2).to_u64_digits(), e, false, n, 2),
    }
}

/// The variance with `n·Q − S²` computed in 640-bit fixed-size integers, if the
/// operands fit (None otherwise).
fn variance_fixed(sl: &[u64], s_shift: i64, ql: &[u64], q_shift: i64, e: i64, n: u64) -> Option<f64> {
    const BITS: i64 = 64 * FIXED_LIMBS as i64;
    if sl.len() > 4 || ql.len() > 5 {
        return None;
    }
    let mut s2 = [0u64; FIXED_LIMBS];
    mul_into(sl, sl, &mut s2);
    let mut nq = [0u64; FIXED_LIMBS];
    mul_into(ql, &[n], &mut nq);
    if bit_len(&s2) + s_shift > BITS || bit_len(&nq) + q_shift > BITS {
        return None;
    }
    shl_in_place(&mut s2, s_shift as u32);
    shl_in_place(&mut nq, q_shift as u32);
    if sub_in_place(&mut nq, &s2) {
        return Some(f64::NAN); // n·Q < S²: inconsistent input
    }
    Some(finish(&nq, e, false, n, 2))
}

/// `out = a·b` (schoolbook); `out` must be zero and wide enough.
fn mul_into(a: &[u64], b: &[u64], out: &mut [u64; FIXED_LIMBS]) {
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &y) in b.iter().enumerate() {
            let t = out[i + j] as u128 + x as u128 * y as u128 + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        out[i + b.len()] = carry as u64;
    }
}

/// `x <<= s`; the caller checked that no set bit is shifted out.
fn shl_in_place(x: &mut [u64; FIXED_LIMBS], s: u32) {
    let limbs = (s / 64) as usize;
    let bits = s % 64;
    if limbs > 0 {
        x.copy_within(0..FIXED_LIMBS - limbs, limbs);
        x[..limbs].fill(0);
    }
    if bits > 0 {
        let mut carry = 0;
        for v in x.iter_mut() {
            let next = *v >> (64 - bits);
            *v = (*v << bits) | carry;
            carry = next;
        }
    }
}

/// `a -= b`; returns whether it borrowed (that is, `a < b`).
fn sub_in_place(a: &mut [u64; FIXED_LIMBS], b: &[u64; FIXED_LIMBS]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow as u64);
        *x = d2;
        borrow = b1 || b2;
    }
    borrow
}

/// The finalized values of a [`FloatSummary`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finals {
    /// The value of the last point (greatest step, then time, then value).
    pub last: f64,
    /// The correctly rounded exact mean (see [`FloatSummary::finalize`] for NaN and infinities).
    pub average: f64,
    /// The greatest value in IEEE 754 total order (NaN if any value is NaN).
    pub max: f64,
    /// The least value in IEEE 754 total order (NaN only if all values are NaN).
    pub min: f64,
    /// The correctly rounded exact population variance (NaN if any value is not finite).
    pub variance: f64,
}

/// The mergeable summary of one float series.
///
/// The result of any sequence of [`add`](FloatSummary::add) and
/// [`merge`](FloatSummary::merge) depends only on the multiset of points, so
/// [`finalize`](FloatSummary::finalize) and [`to_parts`](FloatSummary::to_parts)
/// are the same for every order and split of the input. Values and steps are
/// expected canonical (every NaN the positive quiet NaN, no `-0.0`); min, max and
/// the last point use `f64::total_cmp`, so even other bit patterns keep the result
/// order-independent.
#[derive(Clone, Debug)]
pub struct FloatSummary {
    count: u64,
    sum: ExactSum,
    sum_sq: ExactSum,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
    max: f64,
    min: f64,
    last_step: f64,
    last_time: i64,
    last_value: f64,
    /// Whether another point has the last point's step, so that its time decides which is
    /// last. Not part of the stored state: a summary read back says it may be.
    last_step_shared: bool,
}

/// The whole state of a [`FloatSummary`] as plain fields, in canonical form, for
/// storage (for example as Parquet columns: the `*_lo` as int32, the `*_chunks` as
/// `list<int64>`).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryParts {
    /// Number of points, at least 1.
    pub count: u64,
    /// First chunk index of the exact sum of the finite values.
    pub sum_lo: i32,
    /// Canonical chunks of the exact sum of the finite values.
    pub sum_chunks: Vec<i64>,
    /// First chunk index of the exact sum of squares of the finite values.
    pub sum_sq_lo: i32,
    /// Canonical chunks of the exact sum of squares of the finite values.
    pub sum_sq_chunks: Vec<i64>,
    /// Whether any value was NaN.
    pub nan: bool,
    /// Whether any value was `+inf`.
    pub pos_inf: bool,
    /// Whether any value was `-inf`.
    pub neg_inf: bool,
    /// Greatest value in total order.
    pub max: f64,
    /// Least value in total order.
    pub min: f64,
    /// Step of the last point.
    pub last_step: f64,
    /// Time of the last point, in nanoseconds (`i64::MIN` when absent).
    pub last_time: i64,
    /// Value of the last point.
    pub last_value: f64,
}

/// [`SummaryParts`] borrowed from a summary, its exact sums as held (see
/// [`FloatSummary::raw`]).
#[derive(Clone, Copy, Debug)]
pub struct RawParts<'a> {
    pub count: u64,
    pub sum_lo: i32,
    pub sum_chunks: &'a [i64],
    pub sum_sq_lo: i32,
    pub sum_sq_chunks: &'a [i64],
    pub nan: bool,
    pub pos_inf: bool,
    pub neg_inf: bool,
    pub max: f64,
    pub min: f64,
    pub last_step: f64,
    pub last_time: i64,
    pub last_value: f64,
}

/// Makes `point` the `last` one if it comes after it, and keeps `shared` saying whether
/// another point has the last one's step.
#[inline]
fn later_point(last: &mut (f64, i64, f64), shared: &mut bool, point: (f64, i64, f64)) {
    match point.0.total_cmp(&last.0) {
        Ordering::Greater => {
            *last = point;
            *shared = false;
        }
        Ordering::Equal => {
            *shared = true;
            if is_later(point, *last) {
                *last = point;
            }
        }
        Ordering::Less => {}
    }
}

/// Whether point `a` comes after point `b`: greater step, then greater time, then
/// greater value (total order on the floats).
fn is_later(a: (f64, i64, f64), b: (f64, i64, f64)) -> bool {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)) == Ordering::Greater
}

fn total_max(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a) == Ordering::Greater {
        b
    } else {
        a
    }
}

fn total_min(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a) == Ordering::Less { b } else { a }
}

impl FloatSummary {
    /// The summary of the single point `(step, time, value)`; `time` in
    /// nanoseconds, `i64::MIN` when absent.
    pub fn first(step: f64, time: i64, value: f64) -> Self {
        let mut s = FloatSummary {
            count: 1,
            sum: ExactSum::new(),
            sum_sq: ExactSum::new(),
            nan: false,
            pos_inf: false,
            neg_inf: false,
            max: value,
            min: value,
            last_step: step,
            last_time: time,
            last_value: value,
            last_step_shared: false,
        };
        s.absorb_value(value);
        s
    }

    /// Adds the point `(step, time, value)`.
    #[inline]
    pub fn add(&mut self, step: f64, time: i64, value: f64) {
        self.count = self.count.saturating_add(1);
        self.absorb_value(value);
        self.max = total_max(self.max, value);
        self.min = total_min(self.min, value);
        let mut last = self.last_key();
        later_point(&mut last, &mut self.last_step_shared, (step, time, value));
        (self.last_step, self.last_time, self.last_value) = last;
    }

    /// Adds the points `(steps[k], times[k], values[k])` of one series, exactly as adding
    /// them one by one would, faster: the sums of a block of values whose magnitudes lie
    /// within 2^64 of each other are gathered in fixed-point words, added once.
    pub fn add_run(&mut self, steps: &[f64], times: &[i64], values: &[f64]) {
        debug_assert!(steps.len() == values.len() && times.len() == values.len());
        for ((s, t), v) in steps
            .chunks(RUN_BLOCK)
            .zip(times.chunks(RUN_BLOCK))
            .zip(values.chunks(RUN_BLOCK))
        {
            self.add_block(s, t, v);
        }
    }

    fn add_block(&mut self, steps: &[f64], times: &[i64], values: &[f64]) {
        self.count = self.count.saturating_add(values.len() as u64);
        let (mut last, mut shared) = (self.last_key(), self.last_step_shared);
        let (mut max, mut min) = (self.max, self.min);
        for ((&step, &time), &value) in steps.iter().zip(times).zip(values) {
            let (step, value) = (canonical(step), canonical(value));
            max = total_max(max, value);
            min = total_min(min, value);
            later_point(&mut last, &mut shared, (step, time, value));
        }
        (self.max, self.min) = (max, min);
        (self.last_step, self.last_time, self.last_value) = last;
        self.last_step_shared = shared;

        let (mut e_min, mut e_max) = (i64::MAX, i64::MIN);
        for &value in values {
            match decompose(value) {
                Some((_, _, e)) => {
                    e_min = e_min.min(e);
                    e_max = e_max.max(e);
                }
                None if value.is_nan() => self.nan = true,
                None if value == f64::INFINITY => self.pos_inf = true,
                None if value == f64::NEG_INFINITY => self.neg_inf = true,
                None => {} // zero
            }
        }
        if e_min > e_max {
            return; // no finite value but zeros
        }
        if e_max - e_min > 64 {
            for &value in values {
                if let Some((neg, m, e)) = decompose(value) {
                    self.sum.add_decomposed(neg, m, e);
                    self.sum_sq.add_square_decomposed(m, e);
                }
            }
            return;
        }
        // Each value is m·2^(e_min + d) with d <= 64: m·2^d is below 2^117 and a block's
        // sum below 2^127; m²·2^(2d) is below 2^234 and a block's sum of them below 2^244.
        let mut sum: i128 = 0;
        let (mut sq_lo, mut sq_hi): (u128, u128) = (0, 0);
        for &value in values {
            if let Some((neg, m, e)) = decompose(value) {
                let d = (e - e_min) as u32;
                let term = (m as i128) << d;
                sum += if neg { -term } else { term };
                let square = (m as u128) * (m as u128);
                let (lo, hi) = match 2 * d {
                    0 => (square, 0),
                    s @ 1..=127 => (square << s, square >> (128 - s)),
                    s => (0, square << (s - 128)),
                };
                let (next, carry) = sq_lo.overflowing_add(lo);
                sq_lo = next;
                sq_hi += hi + carry as u128;
            }
        }
        let magnitude = sum.unsigned_abs();
        self.sum
            .add_wide(sum < 0, [magnitude as u64, (magnitude >> 64) as u64, 0, 0], e_min);
        self.sum_sq.add_wide(
            false,
            [
                sq_lo as u64,
                (sq_lo >> 64) as u64,
                sq_hi as u64,
                (sq_hi >> 64) as u64,
            ],
            2 * e_min,
        );
    }

    #[inline]
    fn absorb_value(&mut self, value: f64) {
        match decompose(value) {
            Some((neg, m, e)) => {
                self.sum.add_decomposed(neg, m, e);
                self.sum_sq.add_square_decomposed(m, e);
            }
            None if value.is_nan() => self.nan = true,
            None if value == f64::INFINITY => self.pos_inf = true,
            None if value == f64::NEG_INFINITY => self.neg_inf = true,
            None => {} // zero
        }
    }

    fn last_key(&self) -> (f64, i64, f64) {
        (self.last_step, self.last_time, self.last_value)
    }

    /// Merges the summary of other points into this one.
    pub fn merge(&mut self, other: &FloatSummary) {
        self.count = self.count.saturating_add(other.count);
        self.sum.merge(&other.sum);
        self.sum_sq.merge(&other.sum_sq);
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
        self.max = total_max(self.max, other.max);
        self.min = total_min(self.min, other.min);
        match other.last_step.total_cmp(&self.last_step) {
            Ordering::Greater => self.last_step_shared = other.last_step_shared,
            Ordering::Equal => self.last_step_shared = true,
            Ordering::Less => {}
        }
        if is_later(other.last_key(), self.last_key()) {
            self.last_step = other.last_step;
            self.last_time = other.last_time;
            self.last_value = other.last_value;
        }
    }

    /// Whether another point may have the last point's step: then which point is last
    /// depends on their times (a summary of points read without them is not exact).
    pub fn last_step_shared(&self) -> bool {
        self.last_step_shared
    }

    /// Number of points.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact sum of the finite values.
    pub fn sum(&self) -> &ExactSum {
        &self.sum
    }

    /// The exact sum of the squares of the finite values.
    pub fn sum_sq(&self) -> &ExactSum {
        &self.sum_sq
    }

    /// The whole state as [`to_parts`](FloatSummary::to_parts) gives it, but borrowed and
    /// with the exact sums as held ([`ExactSum::raw_parts`]): what storing a summary needs,
    /// without a normalization or an allocation. [`FloatSummary::from_parts`] of the same
    /// fields gives an equal summary.
    pub fn raw(&self) -> RawParts<'_> {
        let (sum_lo, sum_chunks) = self.sum.raw_parts();
        let (sum_sq_lo, sum_sq_chunks) = self.sum_sq.raw_parts();
        RawParts {
            count: self.count,
            sum_lo,
            sum_chunks,
            sum_sq_lo,
            sum_sq_chunks,
            nan: self.nan,
            pos_inf: self.pos_inf,
            neg_inf: self.neg_inf,
            max: self.max,
            min: self.min,
            last_step: self.last_step,
            last_time: self.last_time,
            last_value: self.last_value,
        }
    }

    /// The finalized values. Average: NaN if any value is NaN or if both `+inf`
    /// and `-inf` occurred, `±inf` if only that infinity occurred, otherwise the
    /// correctly rounded exact mean. Variance: NaN if any value is NaN or
    /// infinite, otherwise the correctly rounded exact population variance.
    pub fn finalize(&self) -> Finals {
        let (average, variance) = if self.nan || self.pos_inf || self.neg_inf {
            let average = if self.nan || (self.pos_inf && self.neg_inf) {
                f64::NAN
            } else if self.pos_inf {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            (average, f64::NAN)
        } else {
            let s = self.sum.magnitude();
            let q = self.sum_sq.magnitude();
            (mean_of(&s, self.count), variance_of(&s, &q, self.count, true))
        };
        Finals {
            last: self.last_value,
            average,
            max: self.max,
            min: self.min,
            variance,
        }
    }

    /// The whole state in canonical plain fields: equal states give equal parts,
    /// and `from_parts(&to_parts())` merges and finalizes identically.
    pub fn to_parts(&self) -> SummaryParts {
        let (sum_lo, sum_chunks) = self.sum.to_parts();
        let (sum_sq_lo, sum_sq_chunks) = self.sum_sq.to_parts();
        SummaryParts {
            count: self.count,
            sum_lo,
            sum_chunks,
            sum_sq_lo,
            sum_sq_chunks,
            nan: self.nan,
            pos_inf: self.pos_inf,
            neg_inf: self.neg_inf,
            max: self.max,
            min: self.min,
            last_step: self.last_step,
            last_time: self.last_time,
            last_value: self.last_value,
        }
    }

    /// Rebuilds a summary from [`to_parts`](FloatSummary::to_parts) output. Errors
    /// (never panics) on a zero count or invalid exact sums (see
    /// [`ExactSum::from_parts`]).
    pub fn from_parts(p: &SummaryParts) -> Result<Self, PartsError> {
        if p.count == 0 {
            return Err(PartsError::ZeroCount);
        }
        Ok(FloatSummary {
            count: p.count,
            sum: ExactSum::from_parts(p.sum_lo, &p.sum_chunks)?,
            sum_sq: ExactSum::from_parts(p.sum_sq_lo, &p.sum_sq_chunks)?,
            nan: p.nan,
            pos_inf: p.pos_inf,
            neg_inf: p.neg_inf,
            max: p.max,
            min: p.min,
            last_step: p.last_step,
            last_time: p.last_time,
            last_value: p.last_value,
            last_step_shared: true,
        })
    }
}

impl PartialEq for FloatSummary {
    /// Equality of the canonical states, comparing floats by their bits.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.to_parts(), other.to_parts());
        let bits = |p: &SummaryParts| {
            [
                p.max.to_bits(),
                p.min.to_bits(),
                p.last_step.to_bits(),
                p.last_value.to_bits(),
            ]
        };
        bits(&a) == bits(&b)
            && (a.count, a.sum_lo, &a.sum_chunks, a.sum_sq_lo, &a.sum_sq_chunks)
                == (b.count, b.sum_lo, &b.sum_chunks, b.sum_sq_lo, &b.sum_sq_chunks)
            && (a.nan, a.pos_inf, a.neg_inf, a.last_time) == (b.nan, b.pos_inf, b.neg_inf, b.last_time)
    }
}

impl Eq for FloatSummary {}

#[cfg(test)]
mod tests;
