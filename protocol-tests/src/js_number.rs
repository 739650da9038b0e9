//! JavaScript's `Number(string)` (ECMAScript's StringToNumber), which sockjs-node's test
//! server applies to every `/amplify` message, so the conformance server reads the same
//! exponent from the same message.
//!
//! The grammar, in short: the string is trimmed of JavaScript white space and line
//! terminators; an empty result is `0`; `0x`/`0o`/`0b` (either case) introduce an unsigned
//! hexadecimal, octal or binary integer; otherwise an optional sign precedes `Infinity` or a
//! decimal literal (`12`, `1.`, `.5`, `1e3`, `2.5E-1`). Anything else is `NaN`. Numeric
//! separators (`1_000`), `inf`, `nan`, a sign before `0x`, and other bases are all `NaN`.

/// `Number(s)` as JavaScript evaluates it for a string `s`.
pub fn js_number(s: &str) -> f64 {
    let s = s.trim_matches(is_js_space);
    if s.is_empty() {
        return 0.0;
    }
    if let Some(value) = non_decimal_integer(s) {
        return value;
    }
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if unsigned == "Infinity" {
        f64::INFINITY
    } else if is_unsigned_decimal_literal(unsigned) {
        // The grammar checked above is the one `f64::from_str` accepts for these characters
        // (digits, one `.`, an exponent), and both round to the nearest double.
        unsigned.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// JavaScript's WhiteSpace and LineTerminator code points, which `Number()` trims: TAB, VT,
/// FF, ZWNBSP (U+FEFF), the Unicode `Zs` category, LF, CR, LS and PS. (Unlike Rust's
/// `char::is_whitespace`, U+0085 is not one of them and U+FEFF is.)
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'
            | '\u{000A}'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `0x1F`, `0o17`, `0b101` (no sign, at least one digit): `Some(value)`, or `Some(NaN)` when
/// the prefix is there but the digits are not; `None` for anything without such a prefix.
fn non_decimal_integer(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'0' {
        return None;
    }
    let bits = match bytes[1] {
        b'x' | b'X' => 4,
        b'o' | b'O' => 3,
        b'b' | b'B' => 1,
        _ => return None,
    };
    let digits = &s[2..];
    let radix = 1u32 << bits;
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Some(f64::NAN);
    }
    Some(integer_value(digits, radix, bits))
}

/// The value of a string of base-2^`bits` digits, rounded once to the nearest double (as
/// JavaScript does), however many digits there are: the leading 124 bits are kept exactly
/// and every later non-zero digit sets a sticky low bit, which is enough for correct
/// rounding to 53 bits; the dropped digits scale the result by a power of two.
fn integer_value(digits: &str, radix: u32, bits: u32) -> f64 {
    const KEEP: u32 = 124;
    let mut mantissa: u128 = 0;
    let mut sticky = false;
    let mut dropped_bits: i32 = 0;
    for c in digits.chars() {
        let d = u128::from(c.to_digit(radix).unwrap_or(0));
        if mantissa >> (KEEP - bits) == 0 {
            mantissa = (mantissa << bits) | d;
        } else {
            sticky |= d != 0;
            dropped_bits = dropped_bits.saturating_add(bits as i32);
        }
    }
    let value = (mantissa | u128::from(sticky)) as f64;
    if dropped_bits == 0 {
        value
    } else {
        // Exact unless it overflows, and then JavaScript's answer is Infinity too.
        value * 2f64.powi(dropped_bits)
    }
}

/// StrUnsignedDecimalLiteral without `Infinity`: `Digits [. [Digits]] [Exp]`, or
/// `. Digits [Exp]`, where `Exp` is `e`/`E`, an optional sign and `Digits`.
fn is_unsigned_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The exponent sockjs-node's `/amplify` uses for a message: `Math.floor(Number(message))`
/// when that is in 1..=18, otherwise 1.
pub fn amplify_exponent(message: &str) -> u32 {
    let n = js_number(message).floor();
    // NaN fails both comparisons, as in JavaScript.
    if n > 0.0 && n < 19.0 {
        n as u32
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
    }

    #[track_caller]
    fn check(input: &str, expected: f64) {
        let got = js_number(input);
        assert!(
            same(got, expected),
            "Number({input:?}) is {expected:?}, got {got:?}"
        );
    }

    #[test]
    fn decimal_literals() {
        check("0", 0.0);
        check("7", 7.0);
        check("007", 7.0);
        check("18.5", 18.5);
        check("1.", 1.0);
        check(".5", 0.5);
        check("+3", 3.0);
        check("-3", -3.0);
        check("-0", -0.0);
        check("1e1", 10.0);
        check("1E1", 10.0);
        check("2.5e+1", 25.0);
        check("250e-1", 25.0);
        check(".1e2", 10.0);
        check("1e400", f64::INFINITY);
        check("-1e400", f64::NEG_INFINITY);
        check("1e-400", 0.0);
        // Rounds once to the nearest double, like the JavaScript parser.
        check("18.999999999999999999", 19.0);
        check("0.1", 0.1);
    }

    #[test]
    fn white_space_is_trimmed_and_empty_is_zero() {
        check("", 0.0);
        check("   ", 0.0);
        check(" \t\n\r\u{000B}\u{000C}", 0.0);
        check("  5  ", 5.0);
        check("\u{00A0}5\u{FEFF}", 5.0);
        check("\u{2028}5\u{2029}", 5.0);
        check("\u{3000}5\u{205F}", 5.0);
        check("\u{2000}\u{200A}5", 5.0);
        // Not JavaScript white space, although Rust's is_whitespace says so.
        check("\u{0085}5", f64::NAN);
        // Nor a zero-width space.
        check("\u{200B}5", f64::NAN);
        // Only around the number.
        check("1 2", f64::NAN);
    }

    #[test]
    fn infinity_is_spelt_exactly() {
        check("Infinity", f64::INFINITY);
        check("+Infinity", f64::INFINITY);
        check("-Infinity", f64::NEG_INFINITY);
        check(" Infinity ", f64::INFINITY);
        check("infinity", f64::NAN);
        check("INFINITY", f64::NAN);
        check("inf", f64::NAN);
        check("-inf", f64::NAN);
        check("NaN", f64::NAN);
        check("nan", f64::NAN);
    }

    #[test]
    fn hexadecimal_octal_and_binary() {
        check("0x10", 16.0);
        check("0X1f", 31.0);
        check("0xA", 10.0);
        check("0o17", 15.0);
        check("0O17", 15.0);
        check("0b101", 5.0);
        check("0B11", 3.0);
        check(" 0x12 ", 18.0);
        check("0x", f64::NAN);
        check("0xg", f64::NAN);
        check("0o8", f64::NAN);
        check("0b2", f64::NAN);
        check("-0x10", f64::NAN);
        check("+0x10", f64::NAN);
        check("0x1.8", f64::NAN);
        check("0x1p3", f64::NAN);
        check("0x_1", f64::NAN);
        check("0x000000000000000000000000000000000000000000000012", 18.0);
        // 2^64 + 1 rounds to 2^64; 2^53 + 1 rounds to even.
        check("0x10000000000000001", 18_446_744_073_709_551_616.0);
        check("0x20000000000001", 9_007_199_254_740_992.0);
        // 2^53 + 3 rounds up to 2^53 + 4 (tie to even).
        check("0x20000000000003", 9_007_199_254_740_996.0);
        // More digits than 128 bits: a late non-zero digit still breaks the tie upwards.
        let mut tie = String::from("0x20000000000001");
        tie.push_str(&"0".repeat(40));
        tie.push('1');
        let exact_tie = 9_007_199_254_740_992.0 * 2f64.powi(164);
        check(&tie, exact_tie + 2.0 * 2f64.powi(164));
        check(&format!("0x1{}", "0".repeat(300)), f64::INFINITY);
    }

    #[test]
    fn everything_else_is_nan() {
        for input in [
            "x",
            "1x",
            "1,5",
            "1_000",
            "--1",
            "+-1",
            "+",
            "-",
            ".",
            "e1",
            "1e",
            "1e+",
            "1..2",
            "1.2.3",
            "١",
            "５",
            "0x10n",
            "1n",
            "Infinityx",
            "+ 1",
        ] {
            check(input, f64::NAN);
        }
    }

    #[test]
    fn amplify_exponent_folds_like_the_reference() {
        for (message, n) in [
            ("1", 1),
            ("4", 4),
            ("18", 18),
            ("18.99", 18),
            ("19", 1),
            ("20", 1),
            ("0", 1),
            ("0.5", 1),
            ("1.5", 1),
            ("2.9", 2),
            ("-3", 1),
            ("-0.5", 1),
            ("", 1),
            ("  7 ", 7),
            ("0x10", 16),
            ("0x13", 1),
            ("0b11", 3),
            ("0o7", 7),
            ("1e1", 10),
            ("1.5e1", 15),
            ("Infinity", 1),
            ("-Infinity", 1),
            ("NaN", 1),
            ("ten", 1),
            ("18.999999999999999999", 1),
        ] {
            assert_eq!(
                amplify_exponent(message),
                n,
                "amplify exponent of {message:?}"
            );
        }
    }
}
