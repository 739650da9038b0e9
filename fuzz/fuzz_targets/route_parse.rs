//! Fuzz target `route_parse`: see `sockjs_fuzz::route::route_parse` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sockjs_fuzz::route::route_parse(data);
});
