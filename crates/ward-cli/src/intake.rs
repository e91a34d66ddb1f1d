//! `ward source …` (members' syslog sources), `ward retention …` and `ward upload FILE…`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::Api;
use crate::commands::table;

#[derive(Subcommand)]
pub enum SourceCmd {
    /// Register a log source for an organisation (central analysts): a client certificate
    /// (its PEM file, or --fingerprint/--cn) or a source network (--network CIDR).
    Add {
        ods_code: String,
        /// A source network in CIDR notation, for devices that cannot present a certificate.
        #[arg(long, conflicts_with_all = ["fingerprint", "cn", "cert"])]
        network: Option<String>,
        /// SHA-256 fingerprint of the client certificate (hex, colons allowed).
        #[arg(long, conflicts_with_all = ["cn", "cert"])]
        fingerprint: Option<String>,
        /// Subject common name of client certificates from the configured client CA.
        #[arg(long, conflicts_with = "cert")]
        cn: Option<String>,
        /// The client certificate (PEM); its SHA-256 fingerprint is registered.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// What the source is, e.g. "main site firewalls".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List an organisation's log sources.
    List { ods_code: String },
    /// Remove a log source by id.
    Remove { id: i64 },
}

#[derive(Subcommand)]
pub enum RetentionCmd {
    /// Show how long an organisation's events are kept.
    Show { ods_code: String },
    /// Set how many days an organisation's events are kept (central analysts); `default`
    /// returns it to the federation default.
    Set { ods_code: String, days: String },
}

#[derive(Args)]
pub struct UploadArgs {
    /// Files to upload: .evtx, .json, .jsonl, .ndjson, text logs; any of them .gz.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Force the format (evtx, json, jsonl, ndjson, text) instead of inferring it.
    #[arg(long)]
    pub format: Option<String>,
    /// Organisation to file the events under (central analysts; an API key uploads as its own).
    #[arg(long)]
    pub org: Option<String>,
}

fn pem_fingerprint(path: &PathBuf) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    anyhow::ensure!(
        !b64.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    let der = decode_base64(&b64)
        .with_context(|| format!("{}: certificate is not valid base64", path.display()))?;
    Ok(ward_syslog::fingerprint(&der))
}

fn decode_base64(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' => continue,
            other => anyhow::bail!("unexpected character {:?}", other as char),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

const SOURCE_COLUMNS: &[&str] = &["id", "org_code", "kind", "value", "label"];

fn print(json_mode: bool, v: &Value, columns: &[&str]) -> anyhow::Result<()> {
    if json_mode {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        match v {
            Value::Array(rows) => table(rows, columns),
            one => table(std::slice::from_ref(one), columns),
        }
    }
    Ok(())
}

pub async fn source(cmd: &SourceCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        SourceCmd::Add {
            ods_code,
            network,
            fingerprint,
            cn,
            cert,
            label,
        } => {
            let (kind, value) = match (network, fingerprint, cn, cert) {
                (Some(n), _, _, _) => ("network", n.clone()),
                (_, Some(f), _, _) => ("cert_fingerprint", f.clone()),
                (_, _, Some(c), _) => ("cert_cn", c.clone()),
                (_, _, _, Some(p)) => ("cert_fingerprint", pem_fingerprint(p)?),
                _ => anyhow::bail!("name the source: --network, --fingerprint, --cn or --cert"),
            };
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{ods_code}/sources"),
                    &json!({"kind": kind, "value": value, "label": label}),
                )
                .await?;
            print(json_mode, &v, SOURCE_COLUMNS)
        }
        SourceCmd::List { ods_code } => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{ods_code}/sources"))
                .await?;
            print(json_mode, &v, SOURCE_COLUMNS)
        }
        SourceCmd::Remove { id } => {
            let _: Value = api
                .request(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/sources/{id}"),
                    None,
                )
                .await?;
            if json_mode {
                println!("{}", json!({"removed": id}));
            } else {
                println!("log source {id} removed");
            }
            Ok(())
        }
    }
}

pub async fn retention(cmd: &RetentionCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    let cols = &["org_code", "retention_days", "default_days"];
    match cmd {
        RetentionCmd::Show { ods_code } => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{ods_code}/retention"))
                .await?;
            print(json_mode, &v, cols)
        }
        RetentionCmd::Set { ods_code, days } => {
            let days: Option<u32> =
                if days == "default" {
                    None
                } else {
                    Some(days.parse().with_context(|| {
                        format!("{days:?} is not a number of days (or `default`)")
                    })?)
                };
            let v: Value = api
                .request(
                    reqwest::Method::PUT,
                    &format!("/api/v1/organisations/{ods_code}/retention"),
                    Some(&json!({"retention_days": days})),
                )
                .await?;
            print(json_mode, &v, cols)
        }
    }
}

pub async fn upload(args: &UploadArgs, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    let mut sizes = Vec::with_capacity(args.files.len());
    for f in &args.files {
        let meta = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
        anyhow::ensure!(meta.is_file(), "{} is not a file", f.display());
        sizes.push(meta.len());
    }
    let bar = if json_mode {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(sizes.iter().sum())
    };
    bar.set_style(
        ProgressStyle::with_template("upload {bar:30} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut receipts = Vec::new();
    let (mut accepted, mut raw, mut refused) = (0u64, 0u64, 0u64);
    for (file, size) in args.files.iter().zip(sizes) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(name.clone());
        let data = tokio::fs::read(file)
            .await
            .with_context(|| format!("reading {}", file.display()))?;
        let mut query = vec![("name", name.clone())];
        if let Some(f) = &args.format {
            query.push(("format", f.clone()));
        }
        if let Some(o) = &args.org {
            query.push(("org", o.clone()));
        }
        let receipt = api
            .post_bytes("/api/v1/uploads", &query, data.into())
            .await
            .with_context(|| format!("uploading {}", file.display()))?;
        accepted += receipt["accepted"].as_u64().unwrap_or(0);
        raw += receipt["stored_raw"].as_u64().unwrap_or(0);
        refused += receipt["refused"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0);
        bar.inc(size);
        bar.println(format!(
            "{name}: {} records, {} stored ({} raw), {} refused",
            receipt["records"].as_u64().unwrap_or(0),
            receipt["accepted"].as_u64().unwrap_or(0),
            receipt["stored_raw"].as_u64().unwrap_or(0),
            receipt["refused"]
                .as_object()
                .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
                .unwrap_or(0),
        ));
        receipts.push(receipt);
    }
    bar.finish_and_clear();
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&json!(receipts))?);
    } else {
        println!(
            "{} files: {accepted} events stored ({raw} kept raw), {refused} refused",
            receipts.len()
        );
    }
    Ok(())
}
