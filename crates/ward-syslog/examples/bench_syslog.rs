//! `cargo run --release -p ward-syslog --example bench_syslog [messages] [connections]`

fn main() -> std::io::Result<()> {
    let mut a = std::env::args().skip(1);
    let messages: u64 = a.next().and_then(|x| x.parse().ok()).unwrap_or(2_000_000);
    let connections: usize = a.next().and_then(|x| x.parse().ok()).unwrap_or(4);
    ward_syslog::bench::bench_syslog(messages, connections)?;
    Ok(())
}
