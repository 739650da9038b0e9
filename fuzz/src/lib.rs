//! The checks behind the fuzz targets in `fuzz_targets/`, one public function per target.
//!
//! Each function takes the fuzzer's input, drives one public entry point of `sockjs-core` (or
//! of `sockjs-stomp`) and panics when an invariant breaks (libFuzzer reports a panic as a
//! crash). Keeping the checks
//! here, in an ordinary library, means the targets are one line each and the same checks can
//! run on stable Rust from `cargo test` (see `tests/replay.rs`), driven by a deterministic
//! pseudo-random generator, where cargo-fuzz is not available.
#![deny(missing_docs)]

pub mod envelope;
pub mod payload;
pub mod route;
pub mod session_ops;
pub mod stomp;
