//! The shortest decimal digits of an `f32` exactly as PostgreSQL's `float_to_shortest_decimal_bufn`
//! chooses them.
//!
//! PostgreSQL's Ryu (src/common/f2s.c) is built without `STRICTLY_SHORTEST`: it never uses a digit
//! string that lies exactly on the boundary between `x` and its neighbour, even when round-to-even
//! would read it back as `x`. The `ryu` crate accepts such boundaries for even mantissas. So:
//!
//! * fast path: the `ryu` crate's digits, which agree with PostgreSQL whenever they are not
//!   exactly a boundary;
//! * when they might be (an `f64` test with no false negatives), the digits are recomputed exactly
//!   with the digit-removal loop of Ryū (Adams, "Ryū: fast float-to-string conversion", PLDI 2018,
//!   §3, general case) over exact big-integer quotients, with both boundaries excluded.

/// `value = mantissa × 10^exponent`, `mantissa` without trailing zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: u64,
    pub exponent: i32,
}

/// The shortest digits of a finite, non-zero, positive `x`.
pub fn shortest(x: f32) -> Decimal {
    debug_assert!(x.is_finite() && x > 0.0);
    let fast = from_ryu(x);
    if on_boundary(x, fast) {
        exact(x)
    } else {
        fast
    }
}

fn strip(mut d: Decimal) -> Decimal {
    while d.mantissa != 0 && d.mantissa.is_multiple_of(10) {
        d.mantissa /= 10;
        d.exponent += 1;
    }
    d
}

/// Parses the `ryu` crate's output (`1.5`, `0.0001`, `1e-7`, `1.2345e16`).
fn from_ryu(x: f32) -> Decimal {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x);
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().expect("ryu exponent")),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut mantissa = 0u64;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa * 10 + (b - b'0') as u64;
    }
    strip(Decimal {
        mantissa,
        exponent: exp - frac.len() as i32,
    })
}

/// IEEE fields as Ryu uses them: `x = m2 × 2^e2`, and whether the lower gap is half the upper
/// (x a power of two above the smallest normal).
fn decode(x: f32) -> (u64, i32, bool) {
    let bits = x.to_bits();
    let (mant, exp) = (bits & 0x7f_ffff, (bits >> 23) & 0xff);
    if exp == 0 {
        (mant as u64, -149, false)
    } else {
        (
            (mant | 0x80_0000) as u64,
            exp as i32 - 150,
            mant == 0 && exp > 1,
        )
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Whether `d` might equal one of the two boundaries of `x`'s rounding interval. The boundaries
/// are exact in `f64`; if `d` equals one, the single correctly rounded operation below yields it
/// exactly, so there are no false negatives (false positives only cost the exact path).
fn on_boundary(x: f32, d: Decimal) -> bool {
    let (m2, e2, lower_closer) = decode(x);
    if m2 % 2 == 1 {
        return false; // odd mantissas: the ryu crate excludes the bounds too
    }
    let value = x as f64;
    let half = 2f64.powi(e2 - 1);
    let (lo, hi) = (
        value - if lower_closer { half / 2.0 } else { half },
        value + half,
    );
    let c = match d.exponent {
        0..=22 => d.mantissa as f64 * POW10[d.exponent as usize],
        -22..=-1 => d.mantissa as f64 / POW10[(-d.exponent) as usize],
        _ => format!("{}e{}", d.mantissa, d.exponent)
            .parse::<f64>()
            .expect("decimal literal"),
    };
    c == lo || c == hi
}

/// Unsigned big integer, little-endian base-2^32 limbs; just what [`exact`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(x: u64) -> Big {
        let mut b = Big(vec![x as u32, (x >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let p = *limb as u64 * m as u64 + carry;
            *limb = p as u32;
            carry = p >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut n: u32) {
        while n >= 13 {
            self.mul_small(1_220_703_125); // 5^13
            n -= 13;
        }
        self.mul_small(5u32.pow(n));
    }

    fn shl(&self, n: u32) -> Big {
        let (words, bits) = ((n / 32) as usize, n % 32);
        let mut out = vec![0u32; words];
        let mut carry = 0u32;
        for &limb in &self.0 {
            if bits == 0 {
                out.push(limb);
            } else {
                out.push(limb << bits | carry);
                carry = limb >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let d = *limb as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            *limb = d.rem_euclid(1 << 32) as u32;
            borrow = (d < 0) as i64;
        }
        self.trim();
    }

    /// `(floor(self / den), remainder == 0)` for a quotient below 2^63.
    fn div_small_quotient(mut self, den: &Big) -> (u64, bool) {
        let mut q = 0u64;
        for i in (0..63).rev() {
            let t = den.shl(i);
            if t.cmp(&self) != std::cmp::Ordering::Greater {
                self.sub_assign(&t);
                q |= 1 << i;
            }
        }
        (q, self.0.is_empty())
    }
}

/// PostgreSQL's digits for `x`, computed exactly (slow; used only near boundaries).
fn exact(x: f32) -> Decimal {
    let (m2, e, lower_closer) = decode(x);
    // Ryu's scaling: value = mv × 2^e2 with the boundaries mm and mp in the same units.
    let e2 = e - 2;
    let mv = 4 * m2;
    let mp = mv + 2;
    let mm = mv - if lower_closer { 1 } else { 2 };
    // Enough decimal digits (about twelve) that at least two are removed below.
    let e10 = (x as f64).log10().floor() as i32 - 11;
    let den = {
        let mut d = Big::from_u64(1).shl((e10 - e2).max(0) as u32);
        d.mul_pow5(e10.max(0) as u32);
        d
    };
    let scaled = |m: u64| {
        let mut n = Big::from_u64(m).shl((e2 - e10).max(0) as u32);
        n.mul_pow5((-e10).max(0) as u32);
        n.div_small_quotient(&den)
    };
    let (mut vr, vr_exact) = scaled(mv);
    let (mut vp, vp_exact) = scaled(mp);
    let (mut vm, _) = scaled(mm);
    if vp_exact {
        vp -= 1; // the upper boundary itself is excluded
    }
    let (mut removed, mut last, mut vr_trailing_zeros) = (0, 0u64, vr_exact);
    while vp / 10 > vm / 10 {
        vr_trailing_zeros &= last == 0;
        last = vr % 10;
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed += 1;
    }
    if vr_trailing_zeros && last == 5 && vr % 2 == 0 {
        last = 4; // exactly halfway: round to even
    }
    // vm is never valid (the lower boundary is excluded, or below it)
    let mantissa = vr + (vr == vm || last >= 5) as u64;
    strip(Decimal {
        mantissa,
        exponent: e10 + removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_cases_take_the_longer_digits() {
        // 3·2^24: 50331650 is the upper boundary, so PostgreSQL prints 50331648.
        let x = 50331648.0f32;
        assert_eq!(
            from_ryu(x),
            Decimal {
                mantissa: 5033165,
                exponent: 1
            }
        );
        assert!(on_boundary(x, from_ryu(x)));
        assert_eq!(
            shortest(x),
            Decimal {
                mantissa: 50331648,
                exponent: 0
            }
        );
    }

    #[test]
    fn exact_path_agrees_with_ryu_away_from_boundaries() {
        let mut s = 0x9E37_79B9u32;
        for _ in 0..20000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let x = f32::from_bits(s & 0x7fff_ffff);
            if !x.is_finite() || x == 0.0 {
                continue;
            }
            let fast = from_ryu(x);
            if !on_boundary(x, fast) {
                assert_eq!(exact(x), fast, "{x:e} ({:#x})", x.to_bits());
            }
        }
    }
}
