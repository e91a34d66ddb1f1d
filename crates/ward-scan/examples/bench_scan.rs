//! Runs the `ward bench scan` comparison: ward vs `nmap -sT -p- 127.0.0.1`.
//!
//! `cargo run --release -p ward-scan --example bench_scan [concurrency] [--ward-only]`

fn main() {
    let concurrency = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let mut opts = ward_scan::bench::BenchOptions {
        concurrency,
        ..Default::default()
    };
    if std::env::args().any(|a| a == "--ward-only") {
        opts.nmap = None;
    }
    match ward_scan::bench::bench_scan_blocking(&opts) {
        Ok(r) => print!("{r}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
