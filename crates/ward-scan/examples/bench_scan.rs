//! Runs the `ward bench scan` comparison: ward vs `nmap -sT -p- 127.0.0.1`.
//!
//! `cargo run --release -p ward-scan --example bench_scan [concurrency]`

fn main() {
    let concurrency = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let opts = ward_scan::bench::BenchOptions {
        concurrency,
        ..Default::default()
    };
    match ward_scan::bench::bench_scan_blocking(&opts) {
        Ok(r) => print!("{r}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
