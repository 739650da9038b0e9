//! Fuzz target `decode_websocket_payload`: see `sockjs_fuzz::payload::decode_websocket_payload` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::payload::decode_websocket_payload(data);
});
