//! `cargo bench -p ward-channels --bench notify_drain [-- N [CONCURRENCY]]`
//!
//! Drains N (default 10,000) SMS through the GOV.UK Notify stand-in with the real rate
//! limit (1,000 burst, then 50/s on the server; the client paces a little under it) and
//! prints the time. Expect roughly three minutes for 10,000: the limit, not the code, sets
//! the pace.

use ward_channels::notify::{NotifyClient, NotifyConfig};
use ward_notify_standin::config::defaults;
use ward_notify_standin::{bind, StandinConfig};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let standin = bind("127.0.0.1:0", StandinConfig::default())
            .await
            .expect("stand-in");
        let client = NotifyClient::new(
            NotifyConfig::new(
                standin.api_key("ward-live").expect("key"),
                defaults::SMS_TEMPLATE_ID.to_string(),
                defaults::EMAIL_TEMPLATE_ID.to_string(),
            )
            .with_base_url(standin.base_url()),
        )
        .expect("client");
        let report = ward_channels::bench::drain(&client, n, concurrency).await;
        println!("{report}");
        let stats = standin.stats();
        println!(
            "stand-in: accepted {}, answered 429 RateLimitError {} times",
            stats.sends_accepted, stats.rate_limited
        );
        standin.shutdown().await;
    });
}
