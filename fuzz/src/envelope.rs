//! The hub's cluster envelopes (what one node's hub receives from another through a backend).

use sockjs_core::cluster::Envelope;

/// Target `envelope_decode`: arbitrary bytes as an envelope.
///
/// * [`Envelope::decode`] never panics (and never allocates beyond the input's length: a
///   length field larger than the input is `Truncated`);
/// * whatever decodes re-encodes to exactly the input (the format is canonical), and decodes
///   again to the same envelope;
/// * every strict prefix of a decodable input fails to decode, and so does the input with a
///   byte appended.
pub fn envelope_decode(data: &[u8]) {
    let Ok(envelope) = Envelope::decode(data) else {
        return;
    };
    let encoded = envelope.encode();
    assert_eq!(&encoded[..], data, "{envelope:?} re-encodes differently");
    assert_eq!(Envelope::decode(&encoded).as_ref(), Ok(&envelope));
    for n in 0..data.len() {
        assert!(Envelope::decode(&data[..n]).is_err(), "a prefix of {n} bytes decodes");
    }
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(Envelope::decode(&longer).is_err(), "trailing bytes accepted");
}
