//! What decoding a hostile payload allocates, measured with a counting global allocator: a
//! payload over a limit is refused having allocated little more than the limits allow, however
//! many messages it holds (a 4 MiB body of a million one-character messages once cost 58 MB).
//!
//! One test in this binary, so that nothing else allocates while it measures. The allocator
//! only knows the peak since the process started; each case measures from the bytes allocated
//! before it, so a peak left by an earlier case can only make a later figure larger, never
//! smaller (the cases run smallest first).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::alloc::System;

use cap::Cap;
use sockjs_core::frame::{
    decode_messages_bounded, decode_websocket_payload_bounded, DecodeError, DecodeLimits,
};
use sockjs_core::Config;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MIB: usize = 1024 * 1024;

/// A JSON array of `"<item>"` strings filling `size` bytes (at most), built without any
/// allocation beyond its own buffer.
fn array_of(item: &str, size: usize) -> String {
    let mut out = String::with_capacity(size);
    out.push('[');
    while out.len() + item.len() + 4 <= size {
        if out.len() > 1 {
            out.push(',');
        }
        out.push('"');
        out.push_str(item);
        out.push('"');
    }
    out.push(']');
    out
}

/// Peak bytes allocated while `f` runs, above what was allocated before it.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATOR.allocated();
    let r = f();
    (r, ALLOCATOR.max_allocated().saturating_sub(before))
}

#[test]
fn refusing_an_oversized_batch_allocates_within_the_limits() {
    let config = Config::default();
    let limits = DecodeLimits::from_config(&config);
    let body = config.max_request_body;
    // The decoded messages a batch at the limits may hold (10,000 `String`s of one byte),
    // with room for the vector's doubling: what the refused payloads may cost at most.
    let allowance = MIB;

    let one_char = array_of("a", body);
    let escaped = array_of("\\u0061", body);
    let lone_surrogates = array_of("\\ud800", body);
    let within = array_of(&"x".repeat(body / config.max_batch_messages), body);
    eprintln!(
        "payloads: {} B of one-character messages, {} B escaped",
        one_char.len(),
        escaped.len()
    );

    // Each refused at the message limit, having decoded at most that many messages.
    for (what, payload) in [("plain", &one_char), ("escaped", &escaped)] {
        let (r, peak) = peak_during(|| decode_messages_bounded(payload.as_bytes(), &limits));
        eprintln!("xhr_send body, {what} strings: {r:?}, peak {peak} B");
        assert_eq!(r, Err(DecodeError::TooManyMessages));
        assert!(peak < allowance, "decoding allocated {peak} B");
        let (r, peak) = peak_during(|| decode_websocket_payload_bounded(payload, &limits));
        eprintln!("websocket message, {what} strings: {r:?}, peak {peak} B");
        assert_eq!(r, Err(DecodeError::TooManyMessages));
        assert!(peak < allowance, "decoding allocated {peak} B");
    }

    // The measurement sees allocations: a batch within the limits costs its messages.
    let (r, peak) = peak_during(|| decode_messages_bounded(within.as_bytes(), &limits));
    let messages = r.unwrap();
    let decoded: usize = messages.iter().map(String::len).sum();
    eprintln!(
        "xhr_send body within the limits: {} messages, peak {peak} B",
        messages.len()
    );
    assert!(messages.len() > config.max_batch_messages / 2);
    assert!(peak >= decoded, "peak {peak} B < {decoded} B decoded");

    // Lone surrogates are repaired in a copy of the payload, then decoded within the limits.
    let (r, peak) = peak_during(|| decode_messages_bounded(lone_surrogates.as_bytes(), &limits));
    eprintln!("xhr_send body, lone surrogates: {r:?}, peak {peak} B");
    assert_eq!(r, Err(DecodeError::TooManyMessages));
    assert!(
        peak < lone_surrogates.len() + allowance,
        "decoding allocated {peak} B"
    );
}
