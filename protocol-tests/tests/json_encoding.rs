//! JSON Unicode encoding over xhr: the server escapes the characters browsers mangle, and
//! decodes everything sockjs-client escapes (surrogate pairs included) back to the same string.
//!
//! sockjs-node 0.3.24 fails `server_decodes_lone_surrogates`: JavaScript strings hold lone
//! surrogates, so node echoes `\ud800` back as a lone escape, which is not a Unicode scalar
//! value; our server deliberately turns a lone surrogate into U+FFFD instead.
mod common;

use std::fmt::Write as _;

use common::*;

/// Code points at or above 255 the server must send as lowercase `\uXXXX` escapes.
const SERVER_ESCAPED: &[(u32, u32)] = &[
    (0x200c, 0x200f),
    (0x2028, 0x202f),
    (0x2060, 0x206f),
    (0xfff0, 0xffff),
];

/// The characters sockjs-client escapes before sending (the suite's `escapable_by_client`
/// class), as inclusive ranges of code points.
const CLIENT_ESCAPED: &[(u32, u32)] = &[
    (0x22, 0x22),
    (0x00, 0x1f),
    (0x7f, 0x9f),
    (0xad, 0xad),
    (0x600, 0x604),
    (0x70f, 0x70f),
    (0x17b4, 0x17b5),
    (0x2000, 0x20ff),
    (0xfeff, 0xfeff),
    (0xfff0, 0xffff),
    (0x300, 0x333),
    (0x33d, 0x346),
    (0x34a, 0x34c),
    (0x350, 0x352),
    (0x357, 0x358),
    (0x35c, 0x362),
    (0x374, 0x374),
    (0x37e, 0x37e),
    (0x387, 0x387),
    (0x591, 0x5af),
    (0x5c4, 0x5c4),
    (0x610, 0x617),
    (0x653, 0x654),
    (0x657, 0x65b),
    (0x65d, 0x65e),
    (0x6df, 0x6e2),
    (0x6eb, 0x6ec),
    (0x730, 0x730),
    (0x732, 0x733),
    (0x735, 0x736),
    (0x73a, 0x73a),
    (0x73d, 0x73d),
    (0x73f, 0x741),
    (0x743, 0x743),
    (0x745, 0x745),
    (0x747, 0x747),
    (0x7eb, 0x7f1),
    (0x951, 0x951),
    (0x958, 0x95f),
    (0x9dc, 0x9dd),
    (0x9df, 0x9df),
    (0xa33, 0xa33),
    (0xa36, 0xa36),
    (0xa59, 0xa5b),
    (0xa5e, 0xa5e),
    (0xb5c, 0xb5d),
    (0xe38, 0xe39),
    (0xf43, 0xf43),
    (0xf4d, 0xf4d),
    (0xf52, 0xf52),
    (0xf57, 0xf57),
    (0xf5c, 0xf5c),
    (0xf69, 0xf69),
    (0xf72, 0xf76),
    (0xf78, 0xf78),
    (0xf80, 0xf83),
    (0xf93, 0xf93),
    (0xf9d, 0xf9d),
    (0xfa2, 0xfa2),
    (0xfa7, 0xfa7),
    (0xfac, 0xfac),
    (0xfb9, 0xfb9),
    (0x1939, 0x193a),
    (0x1a17, 0x1a17),
    (0x1b6b, 0x1b6b),
    (0x1cda, 0x1cdb),
    (0x1dc0, 0x1dcf),
    (0x1dfc, 0x1dfc),
    (0x1dfe, 0x1dfe),
    (0x1f71, 0x1f71),
    (0x1f73, 0x1f73),
    (0x1f75, 0x1f75),
    (0x1f77, 0x1f77),
    (0x1f79, 0x1f79),
    (0x1f7b, 0x1f7b),
    (0x1f7d, 0x1f7d),
    (0x1fbb, 0x1fbb),
    (0x1fbe, 0x1fbe),
    (0x1fc9, 0x1fc9),
    (0x1fcb, 0x1fcb),
    (0x1fd3, 0x1fd3),
    (0x1fdb, 0x1fdb),
    (0x1fe3, 0x1fe3),
    (0x1feb, 0x1feb),
    (0x1fee, 0x1fef),
    (0x1ff9, 0x1ff9),
    (0x1ffb, 0x1ffb),
    (0x1ffd, 0x1ffd),
    (0x20d0, 0x20d1),
    (0x20d4, 0x20d7),
    (0x20e7, 0x20e9),
    (0x2126, 0x2126),
    (0x212a, 0x212b),
    (0x2329, 0x232a),
    (0x2adc, 0x2adc),
    (0x302b, 0x302c),
    (0xaab2, 0xaab3),
    (0xf900, 0xfa0d),
    (0xfa10, 0xfa10),
    (0xfa12, 0xfa12),
    (0xfa15, 0xfa1e),
    (0xfa20, 0xfa20),
    (0xfa22, 0xfa22),
    (0xfa25, 0xfa26),
    (0xfa2a, 0xfa2d),
    (0xfa30, 0xfa6d),
    (0xfa70, 0xfad9),
    (0xfb1d, 0xfb1d),
    (0xfb1f, 0xfb1f),
    (0xfb2a, 0xfb36),
    (0xfb38, 0xfb3c),
    (0xfb3e, 0xfb3e),
    (0xfb40, 0xfb41),
    (0xfb43, 0xfb44),
    (0xfb46, 0xfb4e),
];

/// Every code point of `ranges`, ascending and without repeats.
fn code_points(ranges: &[(u32, u32)]) -> Vec<u32> {
    let mut all: Vec<u32> = ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// `"` + `\uXXXX` (lowercase hex) for each code point + `"`.
fn escaped_json_string(points: &[u32]) -> String {
    let mut s = String::from("\"");
    for p in points {
        let _ = write!(s, "\\u{p:04x}");
    }
    s.push('"');
    s
}

fn chars(points: &[u32]) -> String {
    points
        .iter()
        .map(|&p| char::from_u32(p).unwrap_or_else(|| panic!("U+{p:04X} is not a scalar value")))
        .collect()
}

/// Send `payload` with xhr_send on a fresh session and return the body of the next poll.
async fn round_trip(payload: &str) -> String {
    let url = session("/echo");
    open_xhr_session(&url).await;
    xhr_send_ok(&url, payload).await;
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    String::from_utf8(r.body).expect("the xhr body is UTF-8")
}

/// The one message of an `a[...]` frame.
fn only_message(body: &str) -> String {
    let messages = decode_messages(body);
    assert_eq!(messages.len(), 1, "one message expected in {body:?}");
    messages.into_iter().next().unwrap_or_default()
}

#[tokio::test]
async fn server_encodes() {
    let points = code_points(SERVER_ESCAPED);
    assert_eq!(points.len(), 4 + 8 + 16 + 16);
    // The characters go out raw (UTF-8) and must come back escaped, byte for byte.
    let payload = format!("[\"{}\"]", chars(&points));
    let body = round_trip(&payload).await;
    let expected = format!("a[{}]\n", escaped_json_string(&points));
    assert_eq!(
        body, expected,
        "the server escapes U+200C-200F, U+2028-202F, U+2060-206F, U+FFF0-FFFF as lowercase \\uXXXX"
    );
}

#[tokio::test]
async fn server_decodes() {
    let points = code_points(CLIENT_ESCAPED);
    let payload = format!("[{}]", escaped_json_string(&points));
    let body = round_trip(&payload).await;
    assert_eq!(
        only_message(&body),
        chars(&points),
        "every character sockjs-client escapes comes back as the same string"
    );
}

#[tokio::test]
async fn server_decodes_surrogate_pair() {
    // U+1F600 as the client escapes it: a UTF-16 surrogate pair.
    let body = round_trip(r#"["a\ud83d\ude00b"]"#).await;
    assert_eq!(only_message(&body), "a\u{1F600}b");
    // The same character sent raw as UTF-8.
    let body = round_trip("[\"a\u{1F600}b\"]").await;
    assert_eq!(only_message(&body), "a\u{1F600}b");
}

#[tokio::test]
async fn server_decodes_lone_surrogates() {
    // A browser may send a lone surrogate; it is valid client output, so it must never be
    // answered with "Broken JSON encoding."; our server turns each into U+FFFD.
    for (payload, expected) in [
        (r#"["a\ud800b"]"#, "a\u{FFFD}b"),
        (r#"["a\udc00b"]"#, "a\u{FFFD}b"),
        (r#"["\ude00\ud83d"]"#, "\u{FFFD}\u{FFFD}"),
        (r#"["x\ud83d"]"#, "x\u{FFFD}"),
    ] {
        let url = session("/echo");
        open_xhr_session(&url).await;
        let r = xhr_send(&url, payload).await;
        assert!(
            !r.text().contains("Broken JSON encoding."),
            "a lone surrogate is not broken JSON: {payload} -> {r:?}"
        );
        assert_eq!(r.status, 204, "{payload}: {r:?}");
        let r = xhr(&url).await;
        let body = r.text();
        let messages: Vec<String> = serde_json::from_str(
            body.trim_end_matches('\n')
                .strip_prefix('a')
                .unwrap_or(&body),
        )
        .unwrap_or_else(|e| {
            panic!("{payload}: the echo must be valid Unicode JSON ({e}): {body:?}")
        });
        assert_eq!(messages, [expected], "{payload}");
    }
}
