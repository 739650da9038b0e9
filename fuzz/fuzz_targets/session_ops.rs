//! Fuzz target `session_ops`: see `sockjs_fuzz::session_ops` for what it checks. The input is
//! an `arbitrary`-derived `Scenario` (`cargo fuzz fmt session_ops <file>` prints one).
#![no_main]

libfuzzer_sys::fuzz_target!(|scenario: sockjs_fuzz::session_ops::Scenario| {
    sockjs_fuzz::session_ops::run(&scenario);
});
