//! Fuzz target `decode_bounded`: see `sockjs_fuzz::payload::decode_bounded` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::payload::decode_bounded(data);
});
