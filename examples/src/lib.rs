//! Examples of sockjs-rs: see `examples/`.
