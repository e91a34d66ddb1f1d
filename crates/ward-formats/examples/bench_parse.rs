//! `cargo run --release -p ward-formats --example bench_parse [MB per format] [format…]`
//!
//! Prints messages/s and MB/s per format (one core) and peak RSS.

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let formats: Vec<ward_formats::Format> = args
        .filter_map(|a| ward_formats::Format::from_name(&a))
        .collect();
    let report = ward_formats::bench_parse(&formats, mb * 1_000_000);
    println!("{report}");
}
