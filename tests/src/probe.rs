//! probe: performs one named syscall and reports (being written).
fn main() {}
