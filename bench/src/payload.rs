//! Message payloads: a sequence number and a pattern derived from it, so that an echo can be
//! checked intact and in order without keeping a copy of what was sent.
//!
//! Layout: ten decimal digits, `:`, then letters `a`..`z` cycling from an offset given by the
//! sequence number, up to the requested size. Only characters that JSON and SockJS leave
//! unescaped are used.

use std::fmt::Write as _;

/// The shortest payload: the sequence number and its separator, plus one pattern byte.
pub(crate) const MIN_SIZE: usize = 12;
const PREFIX: usize = 11;

/// The length of a payload asked to be `size` bytes.
pub(crate) fn len(size: usize) -> usize {
    size.max(MIN_SIZE)
}

/// Append the payload of `seq` (`size` bytes, at least [`MIN_SIZE`]) to `out`.
pub(crate) fn write(seq: u64, size: usize, out: &mut String) {
    let size = size.max(MIN_SIZE);
    let _ = write!(out, "{:010}:", seq % 10_000_000_000);
    out.extend((0..size - PREFIX).map(|i| pattern(seq, i)));
}

/// The payload of `seq`.
pub(crate) fn make(seq: u64, size: usize) -> String {
    let mut s = String::with_capacity(size.max(MIN_SIZE));
    write(seq, size, &mut s);
    s
}

fn pattern(seq: u64, i: usize) -> char {
    char::from(b'a' + ((seq as usize).wrapping_add(i) % 26) as u8)
}

/// Why a received payload is not the expected one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// Not a payload of this generator at all (or damaged in its sequence number).
    Garbled,
    /// A payload of the right shape but for another sequence number (lost, duplicated or
    /// reordered message).
    OutOfOrder {
        /// The sequence number carried by the message.
        got: u64,
    },
    /// The right sequence number, but the body differs (truncated, altered).
    Corrupt,
}

/// Check that `got` is exactly the payload of `seq` with `size` bytes.
pub(crate) fn check(seq: u64, size: usize, got: &str) -> Result<(), Mismatch> {
    let got_seq = sequence(got).ok_or(Mismatch::Garbled)?;
    if got_seq != seq % 10_000_000_000 {
        return Err(Mismatch::OutOfOrder { got: got_seq });
    }
    let size = size.max(MIN_SIZE);
    let body = &got.as_bytes()[PREFIX..];
    if got.len() != size
        || body
            .iter()
            .enumerate()
            .any(|(i, &b)| char::from(b) != pattern(seq, i))
    {
        return Err(Mismatch::Corrupt);
    }
    Ok(())
}

/// The sequence number a payload carries, if it has the right shape.
pub(crate) fn sequence(got: &str) -> Option<u64> {
    let b = got.as_bytes();
    if b.len() < PREFIX || b[PREFIX - 1] != b':' {
        return None;
    }
    let digits = &got[..PREFIX - 1];
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Describe a mismatch for an error sample.
pub(crate) fn describe(expected: u64, m: &Mismatch, got: &str) -> String {
    let shown: String = got.chars().take(40).collect();
    match m {
        Mismatch::Garbled => format!("expected message {expected}, got garbled {shown:?}"),
        Mismatch::OutOfOrder { got } => {
            format!("expected message {expected}, got message {got} (lost or reordered)")
        }
        Mismatch::Corrupt => format!("message {expected} corrupted: {shown:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for size in [1, 12, 13, 64, 1000] {
            for seq in [0, 1, 25, 26, 9_999_999_999, 123_456] {
                let p = make(seq, size);
                assert_eq!(p.len(), size.max(MIN_SIZE));
                assert_eq!(check(seq, size, &p), Ok(()));
            }
        }
    }

    #[test]
    fn detects_damage() {
        let p = make(7, 64);
        assert_eq!(
            check(8, 64, &p),
            Err(Mismatch::OutOfOrder { got: 7 }),
            "wrong seq"
        );
        assert_eq!(check(7, 64, &p[..63]), Err(Mismatch::Corrupt), "truncated");
        let mut q = p.clone();
        q.replace_range(40..41, "?");
        assert_eq!(check(7, 64, &q), Err(Mismatch::Corrupt), "altered");
        assert_eq!(check(7, 64, "hello"), Err(Mismatch::Garbled));
    }
}
