//! `ward search`: events by observable, organisation, host, class, time and free text, through
//! `GET /api/v1/search`.

use clap::Args;
use serde_json::Value;

use crate::client::Api;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// An observable: IP address, CIDR block, domain, URL, hash, user name or e-mail address.
    #[arg(long)]
    pub ioc: Option<String>,
    /// The observable's kind (ip, domain, url, hash, user, email); default: any it could be.
    #[arg(long)]
    pub kind: Option<String>,
    /// Organisations (ODS codes, comma-separated).
    #[arg(long)]
    pub org: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
    /// OCSF class, e.g. network_activity, dns_activity, process_activity.
    #[arg(long)]
    pub class: Option<String>,
    /// How far back: 30d, 12h, 15m, 90s.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// Case-insensitive text in the original record.
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue from a previous answer's next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// The request path for `args`, with every value URL-encoded.
pub fn path_for(args: &SearchArgs) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse("http://ward.invalid/api/v1/search")?;
    {
        let mut q = url.query_pairs_mut();
        let optional = [
            ("ioc", &args.ioc),
            ("kind", &args.kind),
            ("org", &args.org),
            ("host", &args.host),
            ("class", &args.class),
            ("text", &args.text),
            ("cursor", &args.cursor),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.append_pair("since", &args.since);
        q.append_pair("limit", &args.limit.to_string());
    }
    Ok(format!("{}?{}", url.path(), url.query().unwrap_or("")))
}

pub async fn run(args: &SearchArgs, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    let v: Value = api.get(&path_for(args)?).await?;
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let hits = v["hits"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<24} {:<8} {:<18} {:<18} {:<28} RECORD",
        "TIME", "ORG", "HOST", "CLASS", "MATCHED"
    );
    for h in &hits {
        let time = h["time"]
            .as_i64()
            .map(ward_model::clock::rfc3339)
            .unwrap_or_default();
        let matched = match (&h["matched"]["kind"], &h["matched"]["value"]) {
            (Value::String(k), Value::String(v)) => format!("{k} {v}"),
            _ => String::new(),
        };
        let record = match &h["event"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!(
            "{:<24} {:<8} {:<18} {:<18} {:<28} {}",
            time,
            h["org"].as_str().unwrap_or(""),
            h["host"].as_str().unwrap_or("-"),
            h["class"].as_str().unwrap_or(""),
            matched,
            record.chars().take(120).collect::<String>()
        );
    }
    println!("{} events", hits.len());
    if v["scan_limited"].as_bool() == Some(true) {
        println!(
            "free text read {} records and stopped at the limit",
            v["scanned"]
        );
    }
    if let Some(c) = v["next_cursor"].as_str() {
        println!("more: --cursor {c}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded() {
        let args = SearchArgs {
            ioc: Some("10.0.0.0/24".into()),
            kind: None,
            org: Some("RJ1,B82005".into()),
            host: None,
            class: None,
            since: "7d".into(),
            text: Some("a&b c".into()),
            limit: 10,
            cursor: None,
        };
        let p = path_for(&args).unwrap();
        assert!(p.starts_with("/api/v1/search?"), "{p}");
        assert!(p.contains("ioc=10.0.0.0%2F24"), "{p}");
        assert!(p.contains("org=RJ1%2CB82005"), "{p}");
        assert!(p.contains("text=a%26b+c"), "{p}");
        assert!(p.contains("since=7d") && p.contains("limit=10"), "{p}");
    }
}
