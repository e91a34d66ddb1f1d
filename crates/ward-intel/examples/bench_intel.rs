//! Prints the intel benchmark figures.
//! `cargo run --release -p ward-intel --example bench_intel [-- INDICATORS LOOKUPS IMPORT]`

fn main() {
    let mut cfg = ward_intel::bench::BenchConfig::default();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if let Some(&n) = args.first() {
        cfg.index_indicators = n;
    }
    if let Some(&n) = args.get(1) {
        cfg.lookups = n;
    }
    if let Some(&n) = args.get(2) {
        cfg.import_indicators = n;
    }
    println!("{}", ward_intel::bench::bench_intel(&cfg));
}
