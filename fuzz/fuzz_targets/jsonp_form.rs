//! Fuzz target `jsonp_form`: see `sockjs_fuzz::payload::jsonp_form` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::payload::jsonp_form(data);
});
