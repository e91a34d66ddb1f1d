//! `cargo run --release -p ward-pseudonymise --example bench_pseudonymise [MB]`

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    ward_pseudonymise::bench_pseudonymise(mb * 1_000_000);
}
