use super::*;

#[test]
fn compiles() {
    let s = Session::new(Instant::now(), Arc::new(Config::default()));
    assert!(!s.is_connected());
}
