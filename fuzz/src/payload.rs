//! Client payload decoding: `xhr_send` / `jsonp_send` bodies and websocket messages.

use sockjs_core::frame::{
    self, DecodeError, DecodeLimits, EncodedMessage, PayloadError, DECODED_MESSAGE_OVERHEAD,
};

/// The messages as a client would send them back: a JSON array of SockJS-encoded strings.
fn encode_array(messages: &[String]) -> Vec<u8> {
    let encoded: Vec<EncodedMessage> = messages.iter().map(|m| EncodedMessage::new(m)).collect();
    let mut out = Vec::new();
    frame::write_messages_frame(&encoded, &mut out);
    // `write_messages_frame` writes the server frame `a[...]`; the client sends `[...]`.
    assert_eq!(out.first(), Some(&b'a'));
    out.remove(0);
    out
}

/// One message encoded by the server must be a JSON string that decodes to the message again,
/// and must not carry any character the protocol wants escaped.
fn check_encoding(message: &str) {
    let encoded = EncodedMessage::new(message);
    let text = std::str::from_utf8(encoded.as_bytes()).expect("an encoded message is UTF-8");
    assert!(text.len() >= 2 && text.starts_with('"') && text.ends_with('"'));
    for c in text.chars() {
        let cp = u32::from(c);
        assert!(
            !matches!(cp, 0..=0x1F | 0x200C..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0xFFF0..=0xFFFF),
            "U+{cp:04X} must be escaped in {text:?}"
        );
    }
    // Every `\uXXXX` escape is written with lowercase hex digits (the suite compares bytes).
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next() == Some('u') {
            let hex: String = chars.by_ref().take(4).collect();
            assert!(
                hex.len() == 4 && hex.chars().all(|h| matches!(h, '0'..='9' | 'a'..='f')),
                "escape \\u{hex} in {text:?} must be four lowercase hex digits"
            );
        }
    }
    assert_eq!(
        frame::decode_websocket_payload(text),
        Ok(vec![message.to_string()]),
        "a single encoded message must decode to itself"
    );
}

/// Target `decode_messages`: an HTTP send body.
///
/// * never panics;
/// * blank input is [`PayloadError::Empty`];
/// * whenever it succeeds, re-encoding every message with [`EncodedMessage::new`] and decoding
///   the array `[...]` gives the same strings, and the websocket decoder agrees on the input.
pub fn decode_messages(data: &[u8]) {
    let result = frame::decode_messages(data);
    let blank = data
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if blank {
        assert_eq!(result, Err(PayloadError::Empty));
        return;
    }
    assert_ne!(
        result,
        Err(PayloadError::Empty),
        "only a blank body is 'Payload expected.'"
    );
    let Ok(messages) = result else { return };
    let again = encode_array(&messages);
    assert_eq!(
        frame::decode_messages(&again).as_ref(),
        Ok(&messages),
        "re-encoded: {:?}",
        String::from_utf8_lossy(&again)
    );
    for m in &messages {
        check_encoding(m);
    }
    // Valid UTF-8 that is a JSON array of strings is a valid websocket message too.
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(
            frame::decode_websocket_payload(text).as_ref(),
            Ok(&messages)
        );
    }
}

/// Target `decode_websocket_payload`: a websocket text message.
///
/// * never panics, and a blank message is ignored (`Ok(vec![])`), never an error;
/// * whenever it succeeds, the messages re-encoded as an array (and each one alone, as a bare
///   string) decode to the same strings.
pub fn decode_websocket_payload(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let result = frame::decode_websocket_payload(&text);
    if text
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        assert_eq!(result, Ok(Vec::new()));
        return;
    }
    let Ok(messages) = result else {
        assert_eq!(result, Err(PayloadError::BrokenJson));
        return;
    };
    let again = encode_array(&messages);
    let again = String::from_utf8(again).expect("encoded frames are UTF-8");
    assert_eq!(
        frame::decode_websocket_payload(&again).as_ref(),
        Ok(&messages)
    );
    for m in &messages {
        check_encoding(m);
    }
}

/// The `d` field of a `jsonp_send` form body, exactly as the server extracts it
/// (`sockjs-hyper`'s private `form_payload`: the first `d` field, percent- and `+`-decoded,
/// empty when absent).
pub fn form_payload(body: &[u8]) -> Vec<u8> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "d")
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default()
}

/// A `jsonp_send` body decoded the way the server does: with a form content type the `d`
/// field, otherwise the raw body (not percent-decoded), then [`frame::decode_messages`].
pub fn decode_jsonp_send(body: &[u8], is_form: bool) -> Result<Vec<String>, PayloadError> {
    if is_form {
        frame::decode_messages(&form_payload(body))
    } else {
        frame::decode_messages(body)
    }
}

/// Target `jsonp_form`: `jsonp_send` bodies. sockjs-hyper has no public function for this
/// (its `form_payload` is private), so the target combines `form_urlencoded::parse` and
/// [`frame::decode_messages`] exactly as `sockjs-hyper/src/transport/jsonp.rs` does. The first
/// input byte chooses between a form body and a raw JSON body.
///
/// * never panics;
/// * a form without a `d` field (or with an empty one) is "Payload expected.";
/// * whenever it succeeds, the messages sent again as a form (`d=` + the percent-encoded JSON
///   array, as a browser's form would) and as a raw body decode to the same strings.
pub fn jsonp_form(data: &[u8]) {
    let Some((&flag, body)) = data.split_first() else {
        return;
    };
    let is_form = flag & 1 == 1;
    let result = decode_jsonp_send(body, is_form);
    if is_form {
        let d = form_payload(body);
        if d.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            assert_eq!(result, Err(PayloadError::Empty));
        }
    }
    let Ok(messages) = result else { return };
    let json = encode_array(&messages);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("d", &String::from_utf8_lossy(&json))
        .finish();
    assert_eq!(
        decode_jsonp_send(form.as_bytes(), true).as_ref(),
        Ok(&messages),
        "form {form:?}"
    );
    // The same form field after other fields, and with `%20` instead of `+` for spaces.
    let other = format!("c=1&{}", form.replace('+', "%20"));
    assert_eq!(
        decode_jsonp_send(other.as_bytes(), true).as_ref(),
        Ok(&messages)
    );
    assert_eq!(decode_jsonp_send(&json, false).as_ref(), Ok(&messages));
}

/// The limits a bounded decoder must respect, and the first of them that `messages` (decoded
/// in order) exceeds, if any.
fn first_violation(messages: &[String], limits: &DecodeLimits) -> Option<DecodeError> {
    let mut size = 0usize;
    for (i, m) in messages.iter().enumerate() {
        if i >= limits.max_messages {
            return Some(DecodeError::TooManyMessages);
        }
        if m.len() > limits.max_message_size {
            return Some(DecodeError::MessageTooLarge);
        }
        size = size
            .saturating_add(m.len())
            .saturating_add(DECODED_MESSAGE_OVERHEAD);
        if size > limits.max_decoded_size {
            return Some(DecodeError::TooLarge);
        }
    }
    None
}

/// Target `decode_bounded`: the bounded decoders. The first byte chooses the HTTP or the
/// websocket decoder, the next three the limits (up to 15 messages, 63 bytes per message,
/// 255 × 4 decoded bytes); the rest is the payload.
///
/// * never panics;
/// * what it returns respects the limits;
/// * when the unbounded decoder accepts the payload, the bounded one gives the same messages
///   if they are within the limits, and otherwise the first limit they exceed in order;
/// * when the unbounded decoder refuses the payload, the bounded one refuses it with the same
///   error, or for a limit (it stopped before reaching the fault).
pub fn decode_bounded(data: &[u8]) {
    let [mode, messages, size, total, payload @ ..] = data else {
        return;
    };
    let limits = DecodeLimits::new(
        usize::from(messages & 0x0F),
        usize::from(size & 0x3F),
        usize::from(*total) * 4,
    );
    let (bounded, unbounded) = if mode & 1 == 0 {
        (
            frame::decode_messages_bounded(payload, &limits),
            frame::decode_messages(payload),
        )
    } else {
        let text = String::from_utf8_lossy(payload);
        (
            frame::decode_websocket_payload_bounded(&text, &limits),
            frame::decode_websocket_payload(&text),
        )
    };
    if let Ok(messages) = &bounded {
        assert_eq!(
            first_violation(messages, &limits),
            None,
            "{limits:?} {messages:?}"
        );
    }
    match unbounded {
        Ok(messages) => {
            let expected = match first_violation(&messages, &limits) {
                None => Ok(messages),
                Some(limit) => Err(limit),
            };
            assert_eq!(bounded, expected, "{limits:?}");
        }
        Err(e) => match bounded {
            Ok(messages) => panic!("bounded decoding accepted {messages:?}, unbounded: {e}"),
            Err(DecodeError::Payload(b)) => assert_eq!(b, e),
            Err(limit) => assert!(limit.is_limit()),
        },
    }
}
