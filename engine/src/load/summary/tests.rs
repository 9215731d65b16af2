//! Tests of the exact summaries. The references use `num_rational::BigRational`
//! (with its own big integers) and are written independently of the fast code.

use super::*;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};
use proptest::prelude::*;

// ---------------------------------------------------------------- references

fn rat(x: f64) -> BigRational {
    BigRational::from_float(x).expect("finite")
}

fn pow2(k: i64) -> f64 {
    assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// A rough positive estimate of a positive rational (a few ulps off at most).
fn estimate(r: &BigRational) -> f64 {
    let (n, d) = (r.numer(), r.denom());
    let sh = n.bits() as i64 - d.bits() as i64 - 64;
    let q = if sh >= 0 {
        n / (d << sh as usize)
    } else {
        (n << (-sh) as usize) / d
    };
    let mut x = q.to_f64().unwrap();
    let mut k = sh;
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

fn even(a: f64, b: f64) -> f64 {
    if a.to_bits() & 1 == 0 { a } else { b }
}

/// Correct rounding (nearest, ties to even) of a rational, by comparing the
/// candidate with the exact midpoints to its neighbours.
fn round_ref(r: &BigRational) -> f64 {
    if r.is_zero() {
        return 0.0;
    }
    if r.is_negative() {
        return -round_ref(&-r);
    }
    let two = rat(2.0);
    // Midpoint between f64::MAX and 2^1024: from there on, the value rounds to inf.
    let overflow = rat(f64::MAX) + rat(pow2(970));
    if *r >= overflow {
        return f64::INFINITY;
    }
    let est = estimate(r);
    let mut c = if est.is_finite() { est } else { f64::MAX };
    loop {
        let below = c.next_down();
        let lo_mid = (rat(below) + rat(c)) / &two;
        let hi_mid = if c == f64::MAX {
            overflow.clone()
        } else {
            (rat(c) + rat(c.next_up())) / &two
        };
        if *r < lo_mid {
            c = below;
        } else if *r > hi_mid {
            c = c.next_up();
        } else if *r == lo_mid {
            return even(below, c);
        } else if *r == hi_mid {
            return even(c, c.next_up());
        } else {
            return c;
        }
    }
}

fn ref_mean(xs: &[f64], n: u64) -> BigRational {
    let s = xs.iter().fold(BigRational::zero(), |a, &x| a + rat(x));
    s / BigRational::from_integer(n.into())
}

/// Population variance as Σ(x − μ)² / n (a different formula than the code's).
fn ref_variance(xs: &[f64]) -> BigRational {
    let n = BigRational::from_integer((xs.len() as u64).into());
    let mu = ref_mean(xs, xs.len() as u64);
    let ss = xs.iter().fold(BigRational::zero(), |a, &x| {
        let d = rat(x) - &mu;
        a + &d * &d
    });
    ss / n
}

/// The raw value of an accumulator, `Σ c_i · 2^(32(lo+i))` in units of 2^-2148.
fn raw_value(lo: i32, chunks: &[i64]) -> BigInt {
    chunks.iter().enumerate().fold(BigInt::zero(), |a, (i, &c)| {
        a + (BigInt::from(c) << (32 * (lo as usize + i)))
    })
}

fn state_value(s: &ExactSum) -> BigInt {
    raw_value(s.lo, s.chunks.as_slice())
}

fn parts_value(s: &ExactSum) -> BigInt {
    let (lo, c) = s.to_parts();
    raw_value(lo, &c)
}

/// A value in units of 2^-2148 as a rational.
fn units_to_rat(v: &BigInt) -> BigRational {
    let tiny = rat(5e-324); // 2^-1074
    BigRational::from_integer(v.to_string().parse().unwrap()) * &tiny * &tiny
}

/// The checks every canonical form passes.
fn assert_canonical(lo: i32, chunks: &[i64]) {
    if chunks.is_empty() {
        assert_eq!(lo, 0);
        return;
    }
    assert!(lo >= 0 && lo as usize + chunks.len() <= CHUNK_LIMIT as usize);
    assert_ne!(chunks[0], 0);
    assert_ne!(*chunks.last().unwrap(), 0);
    let neg = chunks[chunks.len() - 1] < 0;
    for &c in chunks {
        assert!(c.unsigned_abs() <= DIGIT_MASK);
        assert!(c == 0 || (c < 0) == neg, "mixed signs in {chunks:?}");
    }
}

fn sums_of(xs: &[f64]) -> (ExactSum, ExactSum) {
    let mut s = ExactSum::new();
    let mut q = ExactSum::new();
    for &x in xs {
        s.add(x);
        q.add_square(x);
    }
    (s, q)
}

fn summary_of(xs: &[f64]) -> FloatSummary {
    let mut it = xs.iter().enumerate();
    let (_, &v0) = it.next().expect("non-empty");
    let mut s = FloatSummary::first(0.0, i64::MIN, v0);
    for (i, &v) in it {
        s.add(i as f64, i64::MIN, v);
    }
    s
}

fn bits(f: &Finals) -> [u64; 5] {
    [
        f.last.to_bits(),
        f.average.to_bits(),
        f.max.to_bits(),
        f.min.to_bits(),
        f.variance.to_bits(),
    ]
}

/// SplitMix64, for shuffles, splits and merge trees driven by one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------- strategies

fn canon(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    }
}

fn finite_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -4.0f64..4.0,
        3 => 0.5f64..2.0,
        1 => (1u64..5000).prop_map(|k| k as f64 * 5e-324),
        1 => -1e-300f64..1e-300,
        1 => prop::num::f64::NORMAL,
        1 => prop::sample::select(vec![
            1e308,
            -1e308,
            f64::MAX,
            -f64::MAX,
            1e300,
            -1e20,
            1e20,
            f64::MIN_POSITIVE,
            5e-324,
        ]),
        1 => Just(0.0),
    ]
    .prop_map(canon)
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => finite_value(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Point {
    step: f64,
    time: i64,
    value: f64,
}

fn point() -> impl Strategy<Value = Point> {
    (0u8..5, prop_oneof![Just(i64::MIN), -2i64..3], any_value()).prop_map(|(step, time, value)| Point {
        step: step as f64,
        time,
        value,
    })
}

fn summarize(points: &[Point]) -> FloatSummary {
    let mut s = FloatSummary::first(points[0].step, points[0].time, points[0].value);
    for p in &points[1..] {
        s.add(p.step, p.time, p.value);
    }
    s
}

/// Shuffles the points, splits them into random parts, summarizes the parts and
/// merges them along a random tree, sometimes through serialization.
fn random_merge_tree(points: &[Point], seed: u64) -> FloatSummary {
    let mut rng = Rng(seed);
    let mut pts = points.to_vec();
    for i in (1..pts.len()).rev() {
        pts.swap(i, rng.below(i + 1));
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..=pts.len() {
        if i == pts.len() || rng.below(4) == 0 {
            parts.push(summarize(&pts[start..i]));
            start = i;
        }
    }
    while parts.len() > 1 {
        let b = parts.swap_remove(rng.below(parts.len()));
        let i = rng.below(parts.len());
        let b = if rng.below(3) == 0 {
            FloatSummary::from_parts(&b.to_parts()).unwrap()
        } else {
            b
        };
        if rng.below(2) == 0 {
            parts[i].merge(&b);
        } else {
            let mut b = b;
            b.merge(&parts[i]);
            parts[i] = b;
        }
    }
    parts.pop().unwrap()
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn order_split_and_merge_tree_do_not_matter(
        points in prop::collection::vec(point(), 1..80),
        seed in any::<u64>(),
    ) {
        let a = summarize(&points);
        let b = random_merge_tree(&points, seed);
        prop_assert_eq!(bits(&a.finalize()), bits(&b.finalize()));
        prop_assert!(a == b, "states differ: {:?} vs {:?}", a.to_parts(), b.to_parts());
        let (lo, c) = a.sum().to_parts();
        assert_canonical(lo, &c);
        let (lo, c) = a.sum_sq().to_parts();
        assert_canonical(lo, &c);
    }

    #[test]
    fn nan_and_inf_rules(points in prop::collection::vec(point(), 1..30)) {
        let f = summarize(&points).finalize();
        let vals: Vec<f64> = points.iter().map(|p| p.value).collect();
        let nan = vals.iter().any(|v| v.is_nan());
        let pinf = vals.contains(&f64::INFINITY);
        let ninf = vals.contains(&f64::NEG_INFINITY);
        if nan || (pinf && ninf) {
            prop_assert!(f.average.is_nan());
        } else if pinf {
            prop_assert_eq!(f.average, f64::INFINITY);
        } else if ninf {
            prop_assert_eq!(f.average, f64::NEG_INFINITY);
        } else {
            prop_assert!(!f.average.is_nan());
        }
        prop_assert_eq!(f.variance.is_nan(), nan || pinf || ninf);
        prop_assert_eq!(f.max.is_nan(), nan);
        prop_assert_eq!(f.min.is_nan(), vals.iter().all(|v| v.is_nan()));
        let max = vals.iter().copied().max_by(f64::total_cmp).unwrap();
        let min = vals.iter().copied().min_by(f64::total_cmp).unwrap();
        prop_assert_eq!(f.max.to_bits(), max.to_bits());
        prop_assert_eq!(f.min.to_bits(), min.to_bits());
        let last = points
            .iter()
            .max_by(|a, b| {
                a.step
                    .total_cmp(&b.step)
                    .then(a.time.cmp(&b.time))
                    .then(a.value.total_cmp(&b.value))
            })
            .unwrap();
        prop_assert_eq!(f.last.to_bits(), last.value.to_bits());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mean_and_variance_are_correctly_rounded(
        xs in prop::collection::vec(finite_value(), 1..40),
    ) {
        let (s, q) = sums_of(&xs);
        let n = xs.len() as u64;
        let m = mean(&s, n);
        let m_ref = round_ref(&ref_mean(&xs, n));
        prop_assert_eq!(m.to_bits(), m_ref.to_bits(), "mean {} vs {}", m, m_ref);
        let v = variance(&s, &q, n);
        let v_ref = round_ref(&ref_variance(&xs));
        prop_assert_eq!(v.to_bits(), v_ref.to_bits(), "variance {} vs {}", v, v_ref);
        // The fixed-size fast path and the big-integer path agree.
        let v_big = variance_of(&s.magnitude(), &q.magnitude(), n, false);
        prop_assert_eq!(v.to_bits(), v_big.to_bits());
        let f = summary_of(&xs).finalize();
        prop_assert_eq!(f.average.to_bits(), m_ref.to_bits());
        prop_assert_eq!(f.variance.to_bits(), v_ref.to_bits());
    }

    #[test]
    fn near_one_values_are_correctly_rounded(
        xs in prop::collection::vec(0.5f64..2.0, 1..200),
    ) {
        let (s, q) = sums_of(&xs);
        let n = xs.len() as u64;
        prop_assert_eq!(mean(&s, n).to_bits(), round_ref(&ref_mean(&xs, n)).to_bits());
        prop_assert_eq!(variance(&s, &q, n).to_bits(), round_ref(&ref_variance(&xs)).to_bits());
    }

    #[test]
    fn mean_with_any_count_is_correctly_rounded(
        xs in prop::collection::vec(finite_value(), 0..20),
        n in prop_oneof![
            1u64..10,
            any::<u64>().prop_map(|n| n.max(1)),
            (1u64 << 31)..(1u64 << 34), // around the n² < 2^64 shortcut
            (0u32..64).prop_map(|k| 1u64 << k),
            (1u32..65).prop_map(|k| u64::MAX >> (64 - k)),
            Just(u64::MAX),
        ],
    ) {
        let (s, q) = sums_of(&xs);
        let m = mean(&s, n);
        prop_assert_eq!(m.to_bits(), round_ref(&ref_mean(&xs, n)).to_bits());
        prop_assert_eq!(s.to_f64().to_bits(), round_ref(&ref_mean(&xs, 1)).to_bits());
        if n >= xs.len() as u64 {
            // With n ≥ count (as if padded with zeros) the variance is still valid.
            let nn = BigRational::from_integer(n.into());
            let sr = ref_mean(&xs, 1);
            let qr = xs.iter().fold(BigRational::zero(), |a, &x| a + rat(x) * rat(x));
            let v_ref = round_ref(&((&nn * qr - &sr * &sr) / (&nn * &nn)));
            let v = variance(&s, &q, n);
            prop_assert_eq!(v.to_bits(), v_ref.to_bits());
            let v_big = variance_of(&s.magnitude(), &q.magnitude(), n, false);
            prop_assert_eq!(v_big.to_bits(), v_ref.to_bits());
        }
    }

    #[test]
    fn fast_and_big_variance_paths_agree(
        s_lo in 34i32..100,
        delta in -14i32..14,
        s_digits in prop::collection::vec(any::<u32>(), 1..10),
        q_digits in prop::collection::vec(any::<u32>(), 1..12),
        neg in any::<bool>(),
        n in prop_oneof![1u64..100, any::<u64>().prop_map(|n| n.max(1))],
    ) {
        // Chunk offsets near q_lo = 2·s_lo − 67 give exponent shifts of up to a few
        // hundred bits: around the limits of the fixed-size path.
        let q_lo = 2 * s_lo - 67 + delta;
        prop_assume!(q_lo >= 0 && q_lo as usize + q_digits.len() <= CHUNK_LIMIT as usize);
        let sign = if neg { -1 } else { 1 };
        let sc: Vec<i64> = s_digits.iter().map(|&d| sign * d as i64).collect();
        let qc: Vec<i64> = q_digits.iter().map(|&d| d as i64).collect();
        let s = ExactSum::from_parts(s_lo, &sc).unwrap();
        let q = ExactSum::from_parts(q_lo, &qc).unwrap();
        let (sm, qm) = (s.magnitude(), q.magnitude());
        let fast = variance_of(&sm, &qm, n, true);
        let big = variance_of(&sm, &qm, n, false);
        prop_assert_eq!(fast.to_bits(), big.to_bits());
        // And both are the correctly rounded (n·Q − S²)/n², or NaN if negative.
        let (sr, qr) = (units_to_rat(&parts_value(&s)), units_to_rat(&parts_value(&q)));
        let nn = BigRational::from_integer(n.into());
        let num = &nn * qr - &sr * &sr;
        if num.is_negative() {
            prop_assert!(big.is_nan());
        } else {
            prop_assert_eq!(big.to_bits(), round_ref(&(num / (&nn * &nn))).to_bits());
        }
    }

    #[test]
    fn last_step_shared_says_whether_two_points_have_the_last_step(
        points in prop::collection::vec(point(), 1..30),
        cuts in prop::collection::vec(any::<bool>(), 30),
    ) {
        let top = points.iter().map(|p| p.step).fold(f64::NEG_INFINITY, f64::max);
        let expected = points.iter().filter(|p| p.step == top).count() > 1;
        // Parts summarized point by point or as runs, merged in order (not serialized:
        // a summary read back says its last step may be shared).
        let mut parts: Vec<FloatSummary> = Vec::new();
        let mut start = 0;
        for i in 1..=points.len() {
            if i == points.len() || cuts[i] {
                let part = &points[start..i];
                parts.push(if cuts[start] {
                    summarize(part)
                } else {
                    let mut s = FloatSummary::first(part[0].step, part[0].time, part[0].value);
                    let steps: Vec<f64> = part[1..].iter().map(|p| p.step).collect();
                    let times: Vec<i64> = part[1..].iter().map(|p| p.time).collect();
                    let values: Vec<f64> = part[1..].iter().map(|p| p.value).collect();
                    s.add_run(&steps, &times, &values);
                    s
                });
                start = i;
            }
        }
        let mut whole = parts.remove(0);
        for part in &parts {
            whole.merge(part);
        }
        prop_assert_eq!(whole.last_step_shared(), expected);
        prop_assert!(FloatSummary::from_parts(&whole.to_parts()).unwrap().last_step_shared());
    }

    #[test]
    fn from_parts_never_panics(
        lo in prop_oneof![any::<i32>(), -2i32..140],
        chunks in prop::collection::vec(
            prop_oneof![any::<i64>(), -3i64..3, Just(i64::MAX), Just(i64::MIN)],
            0..150,
        ),
    ) {
        match ExactSum::from_parts(lo, &chunks) {
            Ok(s) => {
                prop_assert!(lo >= 0 && lo as usize + chunks.len() <= CHUNK_LIMIT as usize);
                prop_assert!(raw_value(lo, &chunks).bits() <= 32 * CHUNK_LIMIT as u64);
                let (plo, pc) = s.to_parts();
                assert_canonical(plo, &pc);
                prop_assert_eq!(raw_value(plo, &pc), raw_value(lo, &chunks));
                // Idempotent, and finalization works on any valid value.
                prop_assert_eq!(ExactSum::from_parts(plo, &pc).unwrap().to_parts(), (plo, pc));
                let _ = (mean(&s, 3), variance(&s, &s, 3), s.to_f64());
            }
            Err(PartsError::ChunkRange { .. }) => {
                prop_assert!(lo < 0 || lo as i64 + chunks.len() as i64 > CHUNK_LIMIT as i64);
            }
            Err(PartsError::ValueRange) => {
                prop_assert!(raw_value(lo, &chunks).bits() > 32 * CHUNK_LIMIT as u64);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn parts_are_exact_and_canonical(
        xs in prop::collection::vec(finite_value(), 0..40),
        negate in any::<bool>(),
    ) {
        let mut s = ExactSum::new();
        let mut q = ExactSum::new();
        let mut expect = BigRational::zero();
        let mut expect_sq = BigRational::zero();
        for &x in &xs {
            let x = if negate { -x } else { x };
            s.add(x);
            q.add_square(x);
            expect += rat(x);
            expect_sq += rat(x) * rat(x);
        }
        let (lo, c) = s.to_parts();
        assert_canonical(lo, &c);
        prop_assert_eq!(units_to_rat(&raw_value(lo, &c)), expect);
        let (lo, c2) = q.to_parts();
        assert_canonical(lo, &c2);
        prop_assert_eq!(units_to_rat(&raw_value(lo, &c2)), expect_sq);
        prop_assert_eq!(s.is_zero(), c.is_empty());
    }
}

// ---------------------------------------------------------------- edge cases

fn mv(xs: &[f64]) -> (f64, f64) {
    let (s, q) = sums_of(xs);
    let n = xs.len() as u64;
    (mean(&s, n), variance(&s, &q, n))
}

#[test]
fn huge_values_do_not_overflow() {
    assert_eq!(mv(&[1e308, 1e308]), (1e308, 0.0));
    let (m, v) = mv(&[f64::MAX, f64::MAX]);
    assert_eq!(m, f64::MAX);
    assert_eq!(v.to_bits(), 0);
    assert_eq!(mv(&[-f64::MAX, -f64::MAX, -f64::MAX]), (-f64::MAX, 0.0));
    // The variance MAX² overflows (correctly rounded to +inf); the mean is 0.
    assert_eq!(mv(&[f64::MAX, -f64::MAX]), (0.0, f64::INFINITY));
    // Sum of three MAX exceeds f64, the mean does not.
    let (m, _) = mv(&[f64::MAX, f64::MAX, f64::MAX.next_down()]);
    assert_eq!(
        m.to_bits(),
        round_ref(&ref_mean(&[f64::MAX, f64::MAX, f64::MAX.next_down()], 3)).to_bits()
    );
}

#[test]
fn constant_series_have_zero_variance() {
    let (m, v) = mv(&[0.3, 0.3, 0.3]);
    assert_eq!(m, 0.3);
    assert_eq!(v.to_bits(), 0.0f64.to_bits());
    for x in [1e-310, 7.5, -123.456, 1e200, 5e-324] {
        let xs = vec![x; 37];
        assert_eq!(mv(&xs), (x, 0.0), "{x}");
    }
}

#[test]
fn small_exact_example() {
    let (m, v) = mv(&[0.25, 0.75, 0.5]);
    assert_eq!(m, 0.5);
    let expect = round_ref(&(rat(1.0) / rat(24.0)));
    assert_eq!(v.to_bits(), expect.to_bits());
    assert_eq!(v, 1.0 / 24.0); // IEEE division is correctly rounded too
}

#[test]
fn subnormals() {
    let t = 5e-324; // 2^-1074
    // 2^-1075 is a tie between 0 and 2^-1074: even is 0.
    assert_eq!(mv(&[t, 0.0]).0.to_bits(), 0);
    assert_eq!(mv(&[-t, 0.0]).0.to_bits(), (-0.0f64).to_bits());
    // 1.5·2^-1074 → 2 (even); 2.5 → 2; 3.5 → 4.
    assert_eq!(mv(&[3.0 * t, 0.0]).0, 2.0 * t);
    assert_eq!(mv(&[5.0 * t, 0.0]).0, 2.0 * t);
    assert_eq!(mv(&[7.0 * t, 0.0]).0, 4.0 * t);
    for k in 1..40u64 {
        let xs: Vec<f64> = (0..k).map(|i| (i * 7 % 11) as f64 * t).collect();
        let (m, v) = mv(&xs);
        assert_eq!(m.to_bits(), round_ref(&ref_mean(&xs, k)).to_bits());
        assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs)).to_bits());
    }
    // Near the normal boundary.
    let xs = [f64::MIN_POSITIVE, f64::MIN_POSITIVE.next_down(), t];
    let (m, v) = mv(&xs);
    assert_eq!(m.to_bits(), round_ref(&ref_mean(&xs, 3)).to_bits());
    assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs)).to_bits());
}

#[test]
fn one_point() {
    for x in [1.0, -3.5, 1e308, 5e-324, 0.0] {
        let f = FloatSummary::first(1.0, 5, x).finalize();
        assert_eq!((f.average, f.variance, f.max, f.min, f.last), (x, 0.0, x, x, x));
    }
    let f = FloatSummary::first(1.0, 5, f64::INFINITY).finalize();
    assert_eq!(f.average, f64::INFINITY);
    assert!(f.variance.is_nan());
    let f = FloatSummary::first(1.0, 5, f64::NAN).finalize();
    assert!(f.average.is_nan() && f.variance.is_nan() && f.max.is_nan() && f.min.is_nan());
}

#[test]
fn cancellation() {
    let xs = [1e20, 1.0, -1e20];
    let (m, v) = mv(&xs);
    assert_eq!(m, 1.0 / 3.0);
    assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs)).to_bits());
    // Exact cancellation to zero: mean +0.0.
    let xs = [1e300, -1e-300, -1e300, 1e-300];
    let (m, v) = mv(&xs);
    assert_eq!(m.to_bits(), 0);
    assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs)).to_bits());
    assert_eq!(mv(&[1.0, -1.0]), (0.0, 1.0));
    assert_eq!(mv(&[3.0, -3.0, 0.0]), (0.0, 6.0));
    // Tiny variance on a large offset: catastrophic for naive formulas.
    let xs = [1e9 + 0.5, 1e9 + 1.5, 1e9 + 2.5];
    let (m, v) = mv(&xs);
    assert_eq!(m, 1e9 + 1.5);
    assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs)).to_bits());
    assert_eq!(v, 2.0 / 3.0);
}

#[test]
fn nan_and_inf_cases() {
    let f = summary_of(&[1.0, f64::NAN]).finalize();
    assert!(f.average.is_nan() && f.variance.is_nan() && f.max.is_nan());
    assert_eq!(f.min, 1.0);
    let f = summary_of(&[f64::INFINITY, f64::NEG_INFINITY, 2.0]).finalize();
    assert!(f.average.is_nan() && f.variance.is_nan());
    assert_eq!((f.max, f.min), (f64::INFINITY, f64::NEG_INFINITY));
    let f = summary_of(&[f64::INFINITY, 1.0, 3.0]).finalize();
    assert_eq!((f.average, f.max, f.min), (f64::INFINITY, f64::INFINITY, 1.0));
    assert!(f.variance.is_nan());
    let f = summary_of(&[-2.0, f64::NEG_INFINITY]).finalize();
    assert_eq!(
        (f.average, f.max, f.min),
        (f64::NEG_INFINITY, -2.0, f64::NEG_INFINITY)
    );
    let f = summary_of(&[f64::NAN, f64::NAN]).finalize();
    assert!(f.min.is_nan() && f.max.is_nan());
    let f = summary_of(&[f64::NAN, f64::INFINITY]).finalize();
    assert!(f.average.is_nan() && f.min == f64::INFINITY);
}

#[test]
fn last_point_rules() {
    let mut s = FloatSummary::first(2.0, 10, 1.0);
    s.add(1.0, 99, 5.0); // smaller step loses
    assert_eq!(s.finalize().last, 1.0);
    s.add(2.0, 11, 2.0); // same step, later time wins
    assert_eq!(s.finalize().last, 2.0);
    s.add(2.0, 11, 1.5); // same step and time: greater value wins
    assert_eq!(s.finalize().last, 2.0);
    s.add(2.0, 11, f64::NAN); // NaN is the greatest value
    assert!(s.finalize().last.is_nan());
    s.add(3.0, i64::MIN, -1.0); // greater step wins even without a time
    assert_eq!(s.finalize().last, -1.0);
}

#[test]
fn empty_and_zero() {
    let z = ExactSum::new();
    assert_eq!(z.to_parts(), (0, vec![]));
    assert!(z.is_zero());
    assert!(mean(&z, 0).is_nan());
    assert_eq!(mean(&z, 5).to_bits(), 0);
    assert_eq!(variance(&z, &z, 5).to_bits(), 0);
    let (s, q) = sums_of(&[0.0, 0.0]);
    assert_eq!(s.to_parts(), (0, vec![]));
    assert_eq!(q.to_parts(), (0, vec![]));
    let mut c = ExactSum::new();
    c.add(1.5);
    c.add(-1.5);
    assert_eq!(c.to_parts(), (0, vec![]));
    assert!(c.is_zero());
}

#[test]
fn inconsistent_sums_give_nan_variance() {
    let (s, _) = sums_of(&[1.0, 2.0]);
    let (_, q) = sums_of(&[0.1]);
    assert!(variance(&s, &q, 2).is_nan());
    assert!(variance_of(&s.magnitude(), &q.magnitude(), 2, false).is_nan());
    let mut neg = ExactSum::new();
    neg.add(-1.0);
    assert!(variance(&s, &neg, 2).is_nan());
    assert!(variance(&s, &ExactSum::new(), 2).is_nan());
    assert!(variance(&s, &s, 0).is_nan());
}

#[test]
fn serialization_round_trip() {
    let xs = [0.1, -7.25, 1e-310, 3e200, f64::NAN, 2.5];
    let mut a = summary_of(&xs[..3]);
    let b = summary_of(&xs[3..]);
    let a2 = FloatSummary::from_parts(&a.to_parts()).unwrap();
    let b2 = FloatSummary::from_parts(&b.to_parts()).unwrap();
    assert!(a == a2 && b == b2);
    let mut m2 = a2.clone();
    m2.merge(&b2);
    a.merge(&b);
    assert!(a == m2);
    assert_eq!(bits(&a.finalize()), bits(&m2.finalize()));
    let mut bad = a.to_parts();
    bad.count = 0;
    assert_eq!(FloatSummary::from_parts(&bad), Err(PartsError::ZeroCount));
    let mut bad = a.to_parts();
    bad.sum_lo = -1;
    assert!(matches!(
        FloatSummary::from_parts(&bad),
        Err(PartsError::ChunkRange { .. })
    ));
}

#[test]
fn from_parts_garbage() {
    assert!(ExactSum::from_parts(-1, &[1]).is_err());
    assert!(ExactSum::from_parts(i32::MIN, &[]).is_err());
    assert!(ExactSum::from_parts(i32::MAX, &[1]).is_err());
    assert!(ExactSum::from_parts(CHUNK_LIMIT, &[1]).is_err());
    for (lo, len) in [
        (0, CHUNK_LIMIT as usize + 1),
        (1, CHUNK_LIMIT as usize),
        (CHUNK_LIMIT, 1),
    ] {
        assert_eq!(
            ExactSum::from_parts(lo, &vec![0; len]),
            Err(PartsError::ChunkRange { lo, len })
        );
    }
    assert!(ExactSum::from_parts(0, &vec![1; CHUNK_LIMIT as usize]).is_ok());
    // In range, but the carries of i64::MAX need two more chunks.
    assert_eq!(
        ExactSum::from_parts(CHUNK_LIMIT - 1, &[i64::MAX]),
        Err(PartsError::ValueRange)
    );
    // Non-canonical input is normalized exactly.
    let s = ExactSum::from_parts(3, &[i64::MAX, i64::MIN, -1, 0, 0]).unwrap();
    assert_eq!(parts_value(&s), raw_value(3, &[i64::MAX, i64::MIN, -1]));
    let s = ExactSum::from_parts(7, &[0, 0]).unwrap();
    assert_eq!(s.to_parts(), (0, vec![]));
    // 2^32 in one chunk is 1 in the next.
    let s = ExactSum::from_parts(5, &[1 << 32]).unwrap();
    assert_eq!(s.to_parts(), (6, vec![1]));
    // -1 in chunk 6 plus 2^32 − 1 in chunk 5 is -1 in chunk 5.
    let s = ExactSum::from_parts(5, &[(1 << 32) - 1, -1]).unwrap();
    assert_eq!(s.to_parts(), (5, vec![-1]));
    assert_eq!(ExactSum::from_parts(5, &[-1]).unwrap().to_parts(), (5, vec![-1]));
}

/// Builds an accumulator at the carry bound: chunks at ±(pending + 1)(2^32 − 1).
fn saturated(lo: i32, signs: &[i64], pending: u32) -> ExactSum {
    let big = (pending as i64 + 1) * DIGIT_MASK as i64;
    let chunks: Vec<i64> = signs.iter().map(|&s| s * big).collect();
    ExactSum {
        lo,
        pending,
        chunks: Chunks::window(chunks.len(), 0, &chunks),
    }
}

#[test]
fn carries_at_the_pending_limit() {
    // As if 2^31 − 2 additions of pieces of 2^32 − 1 had gone into each chunk.
    for signs in [
        &[1i64, 1, 1, 1][..],
        &[-1, -1, -1],
        &[1, -1, 1, -1, 1],
        &[-1, 1, 1],
    ] {
        let mut s = saturated(60, signs, PENDING_LIMIT);
        let mut expect = units_to_rat(&state_value(&s));
        assert!(s.chunks.as_slice()[0].unsigned_abs() > 1 << 62);
        // More additions must propagate first instead of overflowing.
        for x in [1.0 + f64::EPSILON, -3.75, 1e-5, 2.0f64.powi(40) - 1.0] {
            s.add(x);
            s.add_square(x);
            expect += rat(x) + rat(x) * rat(x);
            assert_eq!(units_to_rat(&state_value(&s)), expect);
        }
        assert!(s.pending < 10);
        let (lo, c) = s.to_parts();
        assert_canonical(lo, &c);
        assert_eq!(units_to_rat(&raw_value(lo, &c)), expect);

        // Merging two saturated accumulators.
        let mut a = saturated(60, signs, PENDING_LIMIT);
        let b = saturated(61, signs, PENDING_LIMIT);
        let expect = state_value(&a) + state_value(&b);
        a.merge(&b);
        assert!(a.pending <= PENDING_LIMIT);
        assert_eq!(state_value(&a), expect);
        assert_eq!(parts_value(&a), expect);
        // Half-saturated ones add without propagation, then propagate at the next merge.
        let half = PENDING_LIMIT / 2 - 1;
        let mut a = saturated(60, signs, half);
        let b = saturated(60, signs, half);
        let expect = state_value(&a) + state_value(&b) + state_value(&b);
        a.merge(&b);
        assert_eq!(a.pending, 2 * half + 1);
        assert!(a.chunks.as_slice()[0].unsigned_abs() > (1 << 62) + (1 << 61));
        a.merge(&b);
        assert!(a.pending <= half + 1);
        assert_eq!(state_value(&a), expect);
        assert_eq!(parts_value(&a), expect);
    }
}

#[test]
fn window_growth_both_ways() {
    let xs = [1.0, 1e-300, 1e300, 5e-324, -1e300, 3.0, f64::MAX, -f64::MAX];
    let mut s = ExactSum::new();
    let mut q = ExactSum::new();
    for (i, &x) in xs.iter().enumerate() {
        s.add(x);
        q.add_square(x);
        let m = mean(&s, i as u64 + 1);
        assert_eq!(
            m.to_bits(),
            round_ref(&ref_mean(&xs[..=i], i as u64 + 1)).to_bits()
        );
        let v = variance(&s, &q, i as u64 + 1);
        assert_eq!(v.to_bits(), round_ref(&ref_variance(&xs[..=i])).to_bits());
    }
    assert!(matches!(s.chunks, Chunks::Heap(_)));
}

#[test]
fn fast_path_is_taken_for_typical_data() {
    let mut rng = Rng(7);
    for n in [2usize, 100, 1000] {
        let xs: Vec<f64> = (0..n).map(|_| 0.5 + rng.unit()).collect();
        let (s, q) = sums_of(&xs);
        let (sm, qm) = (s.magnitude(), q.magnitude());
        let e = qm.exp.min(2 * sm.exp);
        let fast = variance_fixed(sm.limbs(), 2 * sm.exp - e, qm.limbs(), qm.exp - e, e, n as u64);
        assert!(fast.is_some(), "n = {n}");
        assert_eq!(
            fast.unwrap().to_bits(),
            variance_of(&sm, &qm, n as u64, false).to_bits()
        );
    }
}

/// 2^31 + 5 additions of the same value into the same chunks (release build:
/// `cargo test --release -- --ignored many_additions`).
#[test]
#[ignore]
fn many_additions_into_one_chunk() {
    // m = 2^53 − 1 at a chunk boundary (e = −36) adds 2^32 − 1 to the low chunk each time.
    let x = ((1u64 << 53) - 1) as f64 * pow2(-36);
    assert_eq!(decompose(x), Some((false, (1 << 53) - 1, -36)));
    assert_eq!((-36 + UNIT_SHIFT) % 32, 0);
    let n: u64 = (1 << 31) + 5;
    let mut s = ExactSum::new();
    let mut q = ExactSum::new();
    let mut neg = ExactSum::new();
    for _ in 0..n {
        s.add(x);
        q.add_square(x);
        neg.add(-x);
    }
    let count = BigRational::from_integer(n.into());
    assert_eq!(units_to_rat(&parts_value(&s)), rat(x) * &count);
    assert_eq!(units_to_rat(&parts_value(&q)), rat(x) * rat(x) * &count);
    assert_eq!(parts_value(&neg), -parts_value(&s));
    assert_eq!(mean(&s, n), x);
    assert_eq!(mean(&neg, n), -x);
    assert_eq!(variance(&s, &q, n), 0.0);
}

// ---------------------------------------------------------------- timing

/// `cargo test --release -- --ignored --nocapture timing`
#[test]
#[ignore]
fn timing() {
    use std::hint::black_box;
    use std::time::Instant;

    const SUMMARIES: usize = 100_000;
    const POINTS: usize = 10_000_000;
    let mut rng = Rng(42);
    let idx: Vec<u32> = (0..POINTS).map(|_| rng.below(SUMMARIES) as u32).collect();
    let vals: Vec<f64> = (0..POINTS).map(|_| 0.5 + rng.unit()).collect();

    #[derive(Clone, Default)]
    struct Welford {
        n: u64,
        mean: f64,
        m2: f64,
    }
    for round in 0..3 {
        let mut w = vec![Welford::default(); SUMMARIES];
        let t = Instant::now();
        for (&i, &x) in idx.iter().zip(&vals) {
            let s = &mut w[i as usize];
            s.n += 1;
            let d = x - s.mean;
            s.mean += d / s.n as f64;
            s.m2 += d * (x - s.mean);
        }
        let welford = t.elapsed().as_nanos() as f64 / POINTS as f64;
        black_box(&w);

        // The previous kind of summary: Welford plus min, max and last.
        #[derive(Clone)]
        struct OldSummary {
            n: u64,
            mean: f64,
            m2: f64,
            max: f64,
            min: f64,
            last: (f64, i64, f64),
        }
        let mut old: Vec<Option<OldSummary>> = vec![None; SUMMARIES];
        let t = Instant::now();
        for (k, (&i, &x)) in idx.iter().zip(&vals).enumerate() {
            let p = (k as f64, k as i64, x);
            match &mut old[i as usize] {
                Some(s) => {
                    s.n += 1;
                    let d = x - s.mean;
                    s.mean += d / s.n as f64;
                    s.m2 += d * (x - s.mean);
                    s.max = total_max(s.max, x);
                    s.min = total_min(s.min, x);
                    if is_later(p, s.last) {
                        s.last = p;
                    }
                }
                slot => {
                    *slot = Some(OldSummary {
                        n: 1,
                        mean: x,
                        m2: 0.0,
                        max: x,
                        min: x,
                        last: p,
                    })
                }
            }
        }
        let old_full = t.elapsed().as_nanos() as f64 / POINTS as f64;
        black_box(&old);

        let mut ex = vec![(ExactSum::new(), ExactSum::new()); SUMMARIES];
        let t = Instant::now();
        for (&i, &x) in idx.iter().zip(&vals) {
            let s = &mut ex[i as usize];
            s.0.add(x);
            s.1.add_square(x);
        }
        let exact = t.elapsed().as_nanos() as f64 / POINTS as f64;

        let mut fs: Vec<Option<FloatSummary>> = vec![None; SUMMARIES];
        let t = Instant::now();
        for (k, (&i, &x)) in idx.iter().zip(&vals).enumerate() {
            match &mut fs[i as usize] {
                Some(s) => s.add(k as f64, k as i64, x),
                slot => *slot = Some(FloatSummary::first(k as f64, k as i64, x)),
            }
        }
        let full = t.elapsed().as_nanos() as f64 / POINTS as f64;

        let mut seq = (ExactSum::new(), ExactSum::new());
        let t = Instant::now();
        for &x in &vals {
            seq.0.add(x);
            seq.1.add_square(x);
        }
        let sequential = t.elapsed().as_nanos() as f64 / POINTS as f64;
        black_box(&seq);

        let t = Instant::now();
        let mut acc = 0.0;
        for s in &ex {
            acc += mean(&s.0, 100) + variance(&s.0, &s.1, 100);
        }
        let fin_mv = t.elapsed().as_nanos() as f64 / SUMMARIES as f64 / 1000.0;
        let t = Instant::now();
        for s in fs.iter().flatten() {
            acc += s.finalize().variance;
        }
        let fin_full = t.elapsed().as_nanos() as f64 / SUMMARIES as f64 / 1000.0;
        let t = Instant::now();
        for s in &ex {
            acc += variance_of(&s.0.magnitude(), &s.1.magnitude(), 100, false);
        }
        let fin_big = t.elapsed().as_nanos() as f64 / SUMMARIES as f64 / 1000.0;
        let t = Instant::now();
        let mut w_acc = 0.0;
        for s in &w {
            w_acc += s.mean + s.m2 / s.n as f64;
        }
        black_box((acc, w_acc));
        let fin_w = t.elapsed().as_nanos() as f64 / SUMMARIES as f64 / 1000.0;

        let heap = ex
            .iter()
            .filter(|s| matches!(s.0.chunks, Chunks::Heap(_)) || matches!(s.1.chunks, Chunks::Heap(_)))
            .count();
        println!(
            "round {round}: ns/point: welford {welford:.2}, exact add+add_square {exact:.2} \
             (sequential, one summary: {sequential:.2}), FloatSummary::add {full:.2} \
             (Welford summary with min/max/last {old_full:.2}); \
             µs/finalize: mean+variance {fin_mv:.3}, FloatSummary::finalize {fin_full:.3}, \
             variance via big ints {fin_big:.3}, welford {fin_w:.4}; summaries on heap: {heap}; \
             size_of ExactSum {} FloatSummary {}",
            std::mem::size_of::<ExactSum>(),
            std::mem::size_of::<FloatSummary>(),
        );
    }

    // Finalize for 1000-point summaries of various shapes.
    for (name, shape) in [
        ("uniform [0.5,1.5)", 0u8),
        ("loss-like 1e-3..10", 1),
        ("wide 1e-6..1e6", 2),
    ] {
        let sums: Vec<(ExactSum, ExactSum)> = (0..10_000)
            .map(|_| {
                let xs: Vec<f64> = (0..1000)
                    .map(|_| match shape {
                        0 => 0.5 + rng.unit(),
                        1 => 10f64.powf(-3.0 + 4.0 * rng.unit()),
                        _ => 10f64.powf(-6.0 + 12.0 * rng.unit()),
                    })
                    .collect();
                sums_of(&xs)
            })
            .collect();
        let t = Instant::now();
        let mut acc = 0.0;
        for s in &sums {
            acc += mean(&s.0, 1000) + variance(&s.0, &s.1, 1000);
        }
        black_box(acc);
        let us = t.elapsed().as_nanos() as f64 / sums.len() as f64 / 1000.0;
        let fast = sums
            .iter()
            .filter(|(s, q)| {
                let (sm, qm) = (s.magnitude(), q.magnitude());
                let e = qm.exp.min(2 * sm.exp);
                variance_fixed(sm.limbs(), 2 * sm.exp - e, qm.limbs(), qm.exp - e, e, 1000).is_some()
            })
            .count();
        let chunks: usize = sums
            .iter()
            .map(|s| s.0.chunks.as_slice().len() + s.1.chunks.as_slice().len())
            .sum();
        println!(
            "1000 points, {name}: µs per mean+variance {us:.3}; fast path {fast}/{}; avg chunks (sum+sq) {:.1}",
            sums.len(),
            chunks as f64 / sums.len() as f64
        );
    }
}

#[test]
fn raw_parts_read_back_exactly() {
    // Enough additions into the same chunks that carries are pending when stored.
    let mut s = FloatSummary::first(0.0, 0, 0.1);
    for i in 1..5000 {
        let v = (i as f64).sin() * 1e3 + 1e-9 * i as f64;
        s.add(i as f64, i as i64, v);
    }
    let raw = s.raw();
    let parts = SummaryParts {
        count: raw.count,
        sum_lo: raw.sum_lo,
        sum_chunks: raw.sum_chunks.to_vec(),
        sum_sq_lo: raw.sum_sq_lo,
        sum_sq_chunks: raw.sum_sq_chunks.to_vec(),
        nan: raw.nan,
        pos_inf: raw.pos_inf,
        neg_inf: raw.neg_inf,
        max: raw.max,
        min: raw.min,
        last_step: raw.last_step,
        last_time: raw.last_time,
        last_value: raw.last_value,
    };
    let back = FloatSummary::from_parts(&parts).unwrap();
    assert_eq!(back.to_parts(), s.to_parts());
    let (a, b) = (back.finalize(), s.finalize());
    for (x, y) in [
        (a.average, b.average),
        (a.variance, b.variance),
        (a.last, b.last),
        (a.max, b.max),
        (a.min, b.min),
    ] {
        assert_eq!(x.to_bits(), y.to_bits());
    }
}

/// Values of one run: near one magnitude, spread over up to 2^80 (either side of the
/// fixed-point words' 2^64), or anything at all; with -0.0 and a NaN with a payload.
fn run_values() -> impl Strategy<Value = Vec<f64>> {
    let odd = || prop_oneof![Just(-0.0), Just(f64::from_bits(0x7ff8_0000_0000_0bad))];
    let narrow = prop_oneof![20 => 0.5f64..2.0, 10 => -3.0f64..3.0, 1 => odd()];
    let spread = prop_oneof![
        20 => (-40i32..40, -2.0f64..2.0).prop_map(|(e, m)| m * 2f64.powi(e)),
        1 => odd(),
    ];
    let anything = prop_oneof![10 => any_value(), 1 => odd()];
    prop_oneof![
        prop::collection::vec(narrow, 1..2600),
        prop::collection::vec(spread, 1..2600),
        prop::collection::vec(anything, 1..1200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_run_adds_exactly_as_its_points_one_by_one(
        values in run_values(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let points = values.len();
        let steps: Vec<f64> = (0..points).map(|_| rng.below(50) as f64).collect();
        let times: Vec<i64> = (0..points)
            .map(|_| if rng.below(3) == 0 { i64::MIN } else { rng.below(5) as i64 - 2 })
            .collect();
        let mut one_by_one = FloatSummary::first(steps[0], times[0], canon(values[0]));
        for k in 1..points {
            one_by_one.add(steps[k], times[k], canon(values[k]));
        }
        let mut run = FloatSummary::first(steps[0], times[0], canon(values[0]));
        run.add_run(&steps[1..], &times[1..], &values[1..]);
        prop_assert!(run == one_by_one, "{:?} vs {:?}", run.to_parts(), one_by_one.to_parts());
        prop_assert_eq!(bits(&run.finalize()), bits(&one_by_one.finalize()));
    }
}

#[test]
fn runs_at_the_ends_of_the_range_add_exactly() {
    // Largest magnitudes (the top chunks), smallest (subnormals), and both in one block
    // (exponents further apart than the fixed-point words hold).
    for values in [
        vec![f64::MAX; 1500],
        vec![-f64::MAX, f64::MAX, 1e308, -1e300],
        vec![5e-324; 1200],
        vec![5e-324, f64::MIN_POSITIVE, 1e-300, -7e-310],
        vec![1e-300, 1.0, f64::MAX, -5e-324, 3.5],
        vec![1.0, 2.0f64.powi(64), 2.0f64.powi(65), -1.5, 2.0f64.powi(-64)],
    ] {
        let n = values.len();
        let steps: Vec<f64> = (0..n).map(|k| k as f64).collect();
        let times = vec![i64::MIN; n];
        let mut one_by_one = FloatSummary::first(-1.0, 0, 0.25);
        for k in 0..n {
            one_by_one.add(steps[k], times[k], values[k]);
        }
        let mut run = FloatSummary::first(-1.0, 0, 0.25);
        run.add_run(&steps, &times, &values);
        assert!(run == one_by_one, "{values:?}");
        assert_eq!(bits(&run.finalize()), bits(&one_by_one.finalize()), "{values:?}");
    }
}
