//! Administration commands: each is one or two API calls and a table (or `--json`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::Api;
use crate::Command;

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Register a member organisation.
    Add {
        /// NHS ODS code, e.g. RJ1 or A81001.
        ods_code: String,
        #[arg(long)]
        name: String,
        /// acute_trust, mental_health_trust, ambulance_trust, community_trust, gp_practice, csu, icb, central, other.
        #[arg(long)]
        kind: String,
        /// NHS England region, e.g. "London".
        #[arg(long)]
        region: String,
    },
    /// List organisations.
    List,
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an API key for an organisation's systems; the secret is printed once.
    Create {
        ods_code: String,
        #[arg(long, default_value = "default")]
        label: String,
    },
    /// Revoke a key at once.
    Revoke { key_id: String },
    /// List an organisation's keys (never their secrets).
    List { ods_code: String },
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a person; their personal token is printed once.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// central_analyst, org_lead or org_viewer.
        #[arg(long)]
        role: String,
        /// The organisation of a lead or viewer.
        #[arg(long)]
        org: Option<String>,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
pub enum ContactCmd {
    /// Add a person to tell about an organisation's incidents.
    Add {
        ods_code: String,
        #[arg(long)]
        name: String,
        /// UK mobile number.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "security_lead")]
        role: String,
        /// URL that receives the contact's messages as signed JSON (or Teams/Slack posts).
        #[arg(long)]
        webhook_url: Option<String>,
        /// json, teams or slack.
        #[arg(long)]
        webhook_format: Option<String>,
        /// HMAC-SHA-256 key the webhook's receiver checks (X-Ward-Signature).
        #[arg(long)]
        webhook_secret: Option<String>,
        /// Channels in order of preference, e.g. webhook,sms,email.
        #[arg(long, value_delimiter = ',')]
        channels: Vec<String>,
    },
    /// List an organisation's contacts.
    List { ods_code: String },
    /// Remove a contact.
    Remove { id: i64 },
}

#[derive(Subcommand)]
pub enum FilterCmd {
    /// Add a Sigma meta filter (YAML file) that tunes an organisation's detections.
    Add {
        ods_code: String,
        file: PathBuf,
        /// A name for people (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List an organisation's meta filters.
    List { ods_code: String },
    /// Remove a meta filter.
    Remove { id: i64 },
}

#[derive(Subcommand)]
pub enum IncidentsCmd {
    /// List incidents, national first.
    List {
        #[arg(long)]
        org: Option<String>,
        /// local or national.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one incident with its detections and notifications.
    Show { id: i64 },
    /// Acknowledge an incident: you are acting on it.
    Ack {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Move an incident along its lifecycle: acknowledged, investigating, contained, resolved
    /// or false_positive.
    Status {
        id: i64,
        status: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Args)]
pub struct SendArgs {
    /// NDJSON files ("-" for standard input). Each file is one all-or-nothing batch.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn cell(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Prints rows as an aligned table of the given columns.
pub fn table(rows: &[Value], columns: &[&str]) {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell(r, c)).collect())
        .collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count()).min(60);
        }
    }
    let line = |vals: Vec<String>| {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| {
                let v: String = v.chars().take(*w).collect();
                format!("{v:<w$}", w = *w)
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in cells {
        line(row);
    }
}

fn output(json_mode: bool, value: &Value, columns: &[&str]) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    match value {
        Value::Array(rows) => table(rows, columns),
        other => table(std::slice::from_ref(other), columns),
    }
}

pub async fn run(cmd: &Command, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        Command::Org(OrgCmd::Add {
            ods_code,
            name,
            kind,
            region,
        }) => {
            let v: Value = api
                .post(
                    "/api/v1/organisations",
                    &json!({"ods_code": ods_code, "name": name, "kind": kind, "region": region}),
                )
                .await?;
            output(json_mode, &v, &["ods_code", "name", "kind", "region"]);
        }
        Command::Org(OrgCmd::List) => {
            let v: Value = api.get("/api/v1/organisations").await?;
            output(json_mode, &v, &["ods_code", "name", "kind", "region"]);
        }
        Command::Key(KeyCmd::Create { ods_code, label }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{ods_code}/keys"),
                    &json!({"label": label}),
                )
                .await?;
            if json_mode {
                output(true, &v, &[]);
            } else {
                println!(
                    "key {} for {}",
                    cell(&v["key"], "id"),
                    cell(&v["key"], "org_code")
                );
                println!("secret (shown once, store it now): {}", cell(&v, "secret"));
            }
        }
        Command::Key(KeyCmd::Revoke { key_id }) => {
            let v: Value = api
                .request(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/keys/{key_id}"),
                    None,
                )
                .await?;
            output(json_mode, &v, &["id", "org_code", "label", "revoked_at"]);
        }
        Command::Key(KeyCmd::List { ods_code }) => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{ods_code}/keys"))
                .await?;
            output(
                json_mode,
                &v,
                &["id", "org_code", "label", "created_at", "revoked_at"],
            );
        }
        Command::User(UserCmd::Add {
            name,
            email,
            role,
            org,
        }) => {
            let v: Value = api
                .post(
                    "/api/v1/users",
                    &json!({"name": name, "email": email, "role": role, "org_code": org}),
                )
                .await?;
            if json_mode {
                output(true, &v, &[]);
            } else {
                println!(
                    "user {} ({})",
                    cell(&v["user"], "email"),
                    cell(&v["user"], "role")
                );
                println!("personal token (shown once): {}", cell(&v, "token"));
            }
        }
        Command::User(UserCmd::List) => {
            let v: Value = api.get("/api/v1/users").await?;
            output(json_mode, &v, &["id", "name", "email", "role", "org_code"]);
        }
        Command::Contact(ContactCmd::Add {
            ods_code,
            name,
            phone,
            email,
            role,
            webhook_url,
            webhook_format,
            webhook_secret,
            channels,
        }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{ods_code}/contacts"),
                    &json!({"name": name, "phone": phone, "email": email, "role": role,
                        "webhook_url": webhook_url, "webhook_format": webhook_format,
                        "webhook_secret": webhook_secret, "channels": channels}),
                )
                .await?;
            output(
                json_mode,
                &v,
                &["id", "org_code", "name", "phone", "email", "role"],
            );
        }
        Command::Contact(ContactCmd::List { ods_code }) => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{ods_code}/contacts"))
                .await?;
            output(
                json_mode,
                &v,
                &["id", "org_code", "name", "phone", "email", "role"],
            );
        }
        Command::Contact(ContactCmd::Remove { id }) => {
            let _: Value = api
                .request(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/contacts/{id}"),
                    None,
                )
                .await?;
            if !json_mode {
                println!("contact {id} removed");
            }
        }
        Command::Filter(FilterCmd::Add {
            ods_code,
            file,
            name,
        }) => {
            let yaml = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = name.clone().unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{ods_code}/filters"),
                    &json!({"name": name, "yaml": yaml}),
                )
                .await?;
            output(json_mode, &v, &["id", "org_code", "name", "created_at"]);
        }
        Command::Filter(FilterCmd::List { ods_code }) => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{ods_code}/filters"))
                .await?;
            output(json_mode, &v, &["id", "org_code", "name", "created_at"]);
        }
        Command::Filter(FilterCmd::Remove { id }) => {
            let _: Value = api
                .request(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/filters/{id}"),
                    None,
                )
                .await?;
            if !json_mode {
                println!("filter {id} removed");
            }
        }
        Command::Send(args) => {
            let mut results = Vec::new();
            for file in &args.files {
                let body = if file.as_os_str() == "-" {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                        .context("reading standard input")?;
                    buf
                } else {
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
                };
                let v = api
                    .post_ndjson(body.into())
                    .await
                    .with_context(|| format!("sending {}", file.display()))?;
                results.push(json!({"file": file.display().to_string(), "accepted": v["accepted"], "first_offset": v["first_offset"], "org": v["org"]}));
            }
            output(
                json_mode,
                &Value::Array(results),
                &["file", "org", "accepted", "first_offset"],
            );
        }
        Command::Incidents(IncidentsCmd::List { org, scope, limit }) => {
            let mut q = format!("/api/v1/incidents?limit={limit}");
            if let Some(o) = org {
                q.push_str(&format!("&org={o}"));
            }
            if let Some(s) = scope {
                q.push_str(&format!("&scope={s}"));
            }
            let v: Value = api.get(&q).await?;
            output(
                json_mode,
                &v,
                &[
                    "id",
                    "scope",
                    "severity",
                    "title",
                    "organisations",
                    "detection_count",
                    "status",
                ],
            );
        }
        Command::Incidents(IncidentsCmd::Show { id }) => {
            let v: Value = api.get(&format!("/api/v1/incidents/{id}")).await?;
            if json_mode {
                output(true, &v, &[]);
            } else {
                output(
                    false,
                    &v["incident"],
                    &[
                        "id",
                        "scope",
                        "severity",
                        "title",
                        "organisations",
                        "detection_count",
                        "status",
                    ],
                );
                println!();
                output(
                    false,
                    &v["detections"],
                    &["org_code", "host", "rule_title", "level", "tags"],
                );
                println!();
                output(
                    false,
                    &v["notifications"],
                    &[
                        "org_code",
                        "contact_name",
                        "channel",
                        "destination",
                        "status",
                        "attempts",
                    ],
                );
            }
        }
        Command::Incidents(IncidentsCmd::Ack { id, comment }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/incidents/{id}/status"),
                    &json!({"status": "acknowledged", "comment": comment}),
                )
                .await?;
            output(
                json_mode,
                &v,
                &["actor", "from_status", "to_status", "comment", "at"],
            );
        }
        Command::Incidents(IncidentsCmd::Status {
            id,
            status,
            comment,
        }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/incidents/{id}/status"),
                    &json!({"status": status, "comment": comment}),
                )
                .await?;
            output(
                json_mode,
                &v,
                &["actor", "from_status", "to_status", "comment", "at"],
            );
        }
        Command::Status => {
            let v: Value = api.get("/api/v1/status").await?;
            if json_mode {
                output(true, &v, &[]);
            } else if let Some(map) = v.as_object() {
                for (k, val) in map {
                    println!(
                        "{k:<22} {}",
                        if val.is_string() {
                            cell(&v, k)
                        } else {
                            val.to_string()
                        }
                    );
                }
            }
        }
        Command::Init { .. }
        | Command::Serve
        | Command::Demo(_)
        | Command::Bench(_)
        | Command::NotifyStandin { .. }
        | Command::Rules(_)
        | Command::Hunt(_)
        | Command::Import(_)
        | Command::Escalation(_)
        | Command::Advisory(_)
        | Command::Source(_)
        | Command::Retention(_)
        | Command::Upload(_)
        | Command::Scope(_)
        | Command::Scan(_)
        | Command::Findings(_)
        | Command::Estate(_)
        | Command::Intel(_)
        | Command::Search(_) => {
            unreachable_command()?;
        }
    }
    Ok(())
}

fn unreachable_command() -> anyhow::Result<()> {
    anyhow::bail!("internal: command dispatched to the API client by mistake")
}
