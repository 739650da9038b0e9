//! Fuzz target `envelope_decode`: see `sockjs_fuzz::envelope::envelope_decode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::envelope::envelope_decode(data);
});
