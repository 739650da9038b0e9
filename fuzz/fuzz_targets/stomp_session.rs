//! Fuzz target `stomp_session`: see `sockjs_fuzz::stomp` for what it checks. The input is an
//! `arbitrary`-derived `Scenario` (`cargo fuzz fmt stomp_session <file>` prints one).
#![no_main]

libfuzzer_sys::fuzz_target!(|scenario: sockjs_fuzz::stomp::Scenario| {
    sockjs_fuzz::stomp::run(&scenario);
});
