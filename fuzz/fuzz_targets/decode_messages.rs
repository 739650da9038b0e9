//! Fuzz target `decode_messages`: see `sockjs_fuzz::payload::decode_messages` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::payload::decode_messages(data);
});
