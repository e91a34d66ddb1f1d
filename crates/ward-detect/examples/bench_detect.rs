//! Detection benchmark (what `ward bench detect` runs):
//!
//! ```text
//! cargo run --release -p ward-detect --example bench_detect -- \
//!     ../shared/data/sigma ../shared/data/evtx 1000000 2
//! ```

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let rules = args
        .first()
        .map(PathBuf::from)
        .unwrap_or(data.join("sigma"));
    let evtx = args.get(1).map(PathBuf::from).unwrap_or(data.join("evtx"));
    let min: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let threads: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    match ward_detect::bench_detect(&rules, &evtx, min, threads) {
        Ok(r) => println!("{r}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
