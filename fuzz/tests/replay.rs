//! The fuzz checks on stable Rust, without cargo-fuzz: every target's check runs over inputs
//! from a deterministic pseudo-random generator (structured so that the JSON decoders see
//! mostly near-valid payloads, not just noise), then over the files of `corpus/<target>/` and
//! `artifacts/<target>/` when they exist (so a crash found by `cargo fuzz run` can be replayed
//! and kept as a regression test).
//!
//! ```text
//! cargo test --manifest-path fuzz/Cargo.toml --release
//! FUZZ_ITERATIONS=1000000 FUZZ_SEED=7 cargo test --manifest-path fuzz/Cargo.toml --release
//! ```

use std::path::Path;

/// xorshift64*: small, deterministic, good enough to pick inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Pieces that JSON payloads, escapes, surrogates, form bodies and session URLs are made of.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "\"",
    "\"",
    "\"",
    ",",
    " ",
    "\n",
    "\\",
    "\\\\",
    "\\\"",
    "\\n",
    "\\u",
    "\\ud800",
    "\\udc00",
    "\\uD83D\\uDE00",
    "\\ud83d",
    "\\ude00",
    "\\u0000",
    "\\u2028",
    "\\uffff",
    "0041",
    "a",
    "b",
    "xyz",
    "é",
    "😀",
    "\u{2028}",
    "\u{200c}",
    "\u{fff0}",
    "\u{0}",
    "\u{1f}",
    "<",
    "%",
    "%25",
    "%5B",
    "%22",
    "%5D",
    "+",
    "=",
    "&",
    "d=",
    "c=",
    "p=p",
    "1",
    "null",
    "true",
    "{",
    "}",
    "/",
    ".",
    "000",
    "abc",
    "websocket",
    "xhr",
    "xhr_send",
    "xhr_streaming",
    "eventsource",
    "htmlfile",
    "jsonp",
    "jsonp_send",
    "iframe",
    ".html",
    "-",
    "_",
    "info",
];

fn structured(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let n = rng.below(24);
    for _ in 0..n {
        if rng.below(8) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
        }
    }
    out
}

/// A JSON array of random strings, as a client would send it (optionally form-encoded).
fn valid_array(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(4);
    let mut out = b"[".to_vec();
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        for _ in 0..rng.below(6) {
            let t = match rng.below(6) {
                0 => "\\ud800",
                1 => "\\u2028",
                2 => "\\\"",
                3 => "😀",
                4 => "<%+&=",
                _ => "plain",
            };
            out.extend_from_slice(t.as_bytes());
        }
        out.push(b'"');
    }
    out.push(b']');
    out
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed)
}

/// Run `check` on generated inputs, then on the saved corpus and artifacts of `target`.
fn drive(target: &str, check: fn(&[u8]), mut generate: impl FnMut(&mut Rng) -> Vec<u8>) {
    let mut rng = Rng::new(seed() ^ target.len() as u64);
    for _ in 0..iterations() {
        let input = generate(&mut rng);
        check(&input);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(input) = std::fs::read(entry.path()) {
                eprintln!("replaying {}", entry.path().display());
                check(&input);
            }
        }
    }
}

fn payload_input(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => rng.bytes(64),
        1 => valid_array(rng),
        _ => structured(rng),
    }
}

#[test]
fn decode_messages() {
    drive(
        "decode_messages",
        sockjs_fuzz::payload::decode_messages,
        payload_input,
    );
}

#[test]
fn decode_websocket_payload() {
    drive(
        "decode_websocket_payload",
        sockjs_fuzz::payload::decode_websocket_payload,
        payload_input,
    );
}

#[test]
fn decode_bounded() {
    drive("decode_bounded", sockjs_fuzz::payload::decode_bounded, |rng| {
        // Limits small enough that the generated payloads often exceed them.
        let mut input = vec![
            rng.next() as u8,
            rng.below(6) as u8,
            rng.below(16) as u8,
            rng.below(48) as u8,
        ];
        input.extend(payload_input(rng));
        input
    });
}

#[test]
fn jsonp_form() {
    drive("jsonp_form", sockjs_fuzz::payload::jsonp_form, |rng| {
        let mut input = vec![rng.next() as u8];
        match rng.below(3) {
            0 => {
                let json = valid_array(rng);
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("d", &String::from_utf8_lossy(&json))
                    .finish();
                input.extend_from_slice(form.as_bytes());
            }
            _ => input.extend(payload_input(rng)),
        }
        input
    });
}

#[test]
fn route_parse() {
    drive("route_parse", sockjs_fuzz::route::route_parse, |rng| {
        let mut path = Vec::new();
        for _ in 0..rng.below(5) {
            if rng.below(3) > 0 {
                path.push(b'/');
            }
            path.extend(structured(rng).into_iter().take(12));
        }
        path
    });
}

#[test]
fn session_ops() {
    drive(
        "session_ops",
        sockjs_fuzz::session_ops::session_ops,
        |rng| rng.bytes(512),
    );
}

/// Near-valid envelopes: a valid encoding (of any kind), sometimes with one byte changed or
/// cut short; or noise.
fn envelope_input(rng: &mut Rng) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, rng: &mut Rng, max: usize) {
        let s = rng.bytes(max);
        let s = String::from_utf8_lossy(&s).into_owned();
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    if rng.below(8) == 0 {
        return rng.bytes(64);
    }
    let mut out = vec![1];
    out.extend_from_slice(&rng.next().to_be_bytes());
    out.extend_from_slice(&rng.next().to_be_bytes());
    let kind = 1 + rng.below(5) as u8;
    out.push(kind);
    match kind {
        1 | 3 => {
            string(&mut out, rng, 12);
            string(&mut out, rng, 24);
        }
        2 => {
            string(&mut out, rng, 12);
            let payload = rng.bytes(24);
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(&payload);
        }
        4 => {
            string(&mut out, rng, 12);
            out.extend_from_slice(&(rng.next() as u16).to_be_bytes());
            string(&mut out, rng, 24);
            let flags = rng.below(4) as u8;
            out.push(flags);
            if flags & 1 != 0 {
                string(&mut out, rng, 8);
            }
            if flags & 2 != 0 {
                for _ in 0..3 {
                    out.extend_from_slice(&rng.next().to_be_bytes());
                }
            }
        }
        _ => string(&mut out, rng, 24),
    }
    match rng.below(4) {
        0 => {
            let i = rng.below(out.len());
            out[i] = rng.next() as u8;
        }
        1 => out.truncate(rng.below(out.len())),
        _ => {}
    }
    out
}

#[test]
fn envelope_decode() {
    drive(
        "envelope_decode",
        sockjs_fuzz::envelope::envelope_decode,
        envelope_input,
    );
}

#[test]
fn stomp_session() {
    drive("stomp_session", sockjs_fuzz::stomp::stomp_session, |rng| {
        rng.bytes(1024)
    });
}

/// `stomp_session` on generated scenarios that reach connected sessions (random bytes
/// rarely do).
#[test]
fn stomp_session_generated() {
    let runs = (iterations() / 10).max(100);
    let mut reached = [0usize; 7];
    for i in 0..runs as u64 {
        let c = sockjs_fuzz::stomp::run(&sockjs_fuzz::stomp::generated(i ^ seed()));
        for (n, hit) in reached.iter_mut().zip([
            c.connected,
            c.messages > 0,
            c.receipts > 0,
            c.errors > 0,
            c.acks > 0,
            c.publishes > 0,
            c.heart_beats > 0,
        ]) {
            *n += usize::from(hit);
        }
    }
    // The generator must reach every part of the session (each in at least 0.5% of the
    // scenarios), or this test checks little.
    eprintln!("connected, MESSAGE, RECEIPT, ERROR, ACK, SEND, heart-beat: {reached:?} of {runs}");
    assert!(
        reached.iter().all(|&n| n * 200 >= runs),
        "{reached:?} of {runs}"
    );
}
