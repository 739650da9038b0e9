//! Message payloads: a sequence number and a pattern derived from it, so that an echo can be
//! checked intact and in order without keeping a copy of what was sent.
//!
//! Layout: ten decimal digits, `:`, then letters `a`..`z` cycling from an offset given by the
//! sequence number, up to the requested size. Only characters that JSON and SockJS leave
//! unescaped are used.

/// The shortest payload: the sequence number and its separator, plus one pattern byte.
pub(crate) const MIN_SIZE: usize = 12;
const PREFIX: usize = 11;

/// The pattern's alphabet twice: the pattern from any offset, for up to 26 bytes, is a slice.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";

/// The length of a payload asked to be `size` bytes.
pub(crate) fn len(size: usize) -> usize {
    size.max(MIN_SIZE)
}

/// Append the payload of `seq` (`size` bytes, at least [`MIN_SIZE`]) to `out`.
pub(crate) fn write(seq: u64, size: usize, out: &mut String) {
    let size = size.max(MIN_SIZE);
    out.reserve(size);
    let mut digits = [0u8; PREFIX - 1];
    let mut n = seq % 10_000_000_000;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend(digits.iter().map(|&d| char::from(d)));
    out.push(':');
    // Byte `i` of the pattern is letter `(seq + i) % 26`: it repeats every 26 bytes.
    let start = (seq % 26) as usize;
    let mut left = size - PREFIX;
    while left > 0 {
        let n = left.min(26);
        out.push_str(&LETTERS[start..start + n]);
        left -= n;
    }
}

/// The payload of `seq`.
pub(crate) fn make(seq: u64, size: usize) -> String {
    let mut s = String::with_capacity(size.max(MIN_SIZE));
    write(seq, size, &mut s);
    s
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
    let start = (seq % 26) as usize;
    let letters = &LETTERS.as_bytes()[start..start + 26];
    if got.len() != size
        || !got.as_bytes()[PREFIX..]
            .chunks(26)
            .all(|chunk| chunk == &letters[..chunk.len()])
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
    b[..PREFIX - 1].iter().try_fold(0, |n: u64, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
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

    /// The layout, as the module documents it, written the plain way.
    fn reference(seq: u64, size: usize) -> String {
        let mut s = format!("{:010}:", seq % 10_000_000_000);
        s.extend(
            (0..size.max(MIN_SIZE) - PREFIX)
                .map(|i| char::from(b'a' + ((seq + i as u64) % 26) as u8)),
        );
        s
    }

    #[test]
    fn layout() {
        for size in [0, 12, 13, 36, 37, 38, 64, 1000] {
            for seq in [0, 1, 25, 26, 27, 9_999_999_999, 10_000_000_003, 123_456] {
                assert_eq!(make(seq, size), reference(seq, size), "{seq} {size}");
            }
        }
        assert_eq!(make(3, 16), "0000000003:defgh");
        assert_eq!(sequence("0000000003:defgh"), Some(3));
        assert_eq!(sequence("00000x0003:defgh"), None);
        assert_eq!(sequence("+000000003:defgh"), None);
    }

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
