//! Media pipeline benchmarks (sender + receiver per frame).

fn main() {}
