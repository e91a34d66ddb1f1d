//! `ward advisory …`: High Severity Alerts. The centre creates and publishes them; members'
//! leads acknowledge, respond, post updates and close them; anyone may see compliance within
//! what TLP lets them read.

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Api;
use crate::commands::table;

#[derive(Subcommand)]
pub enum AdvisoryCmd {
    /// Advisories you may read, newest first.
    List {
        /// draft, published or closed.
        #[arg(long)]
        status: Option<String>,
        /// Only those this organisation received, with its standing on each.
        #[arg(long)]
        org: Option<String>,
    },
    /// One advisory with its recipients' answers and what happened.
    Show { id: String },
    /// Write an advisory (a draft unless --publish). Central analysts only.
    Create {
        #[arg(long)]
        title: String,
        /// The threat in a few sentences.
        #[arg(long)]
        summary: String,
        /// low, medium, high or critical.
        #[arg(long, default_value = "high")]
        severity: String,
        /// CLEAR, GREEN, AMBER, AMBER+STRICT or RED.
        #[arg(long, default_value = "AMBER")]
        tlp: String,
        /// An affected product (CPE 2.3 or purl); repeat for several.
        #[arg(long = "affected")]
        affected: Vec<String>,
        /// A required action; repeat for several.
        #[arg(long = "action")]
        actions: Vec<String>,
        /// A reference URL; repeat for several.
        #[arg(long = "reference")]
        references: Vec<String>,
        /// A CVE id; repeat for several.
        #[arg(long = "cve")]
        cves: Vec<String>,
        /// Every member organisation.
        #[arg(long, conflicts_with_all = ["region", "kind", "orgs", "exposed_to"])]
        all: bool,
        /// The members of one NHS England region.
        #[arg(long)]
        region: Option<String>,
        /// The members of one kind (acute_trust, gp_practice, …).
        #[arg(long)]
        kind: Option<String>,
        /// An explicit list of ODS codes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        orgs: Vec<String>,
        /// The members exposed to this CVE.
        #[arg(long)]
        exposed_to: Option<String>,
        /// Publish at once.
        #[arg(long)]
        publish: bool,
    },
    /// Publish a draft to its recipients. Central analysts only.
    Publish {
        id: String,
        /// For a CVE target: the exposed organisations, comma-separated.
        #[arg(long, value_delimiter = ',')]
        exposed: Vec<String>,
    },
    /// Acknowledge an advisory for your organisation.
    Ack {
        id: String,
        /// The organisation (central analysts answering for a member).
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Say whether an advisory applies to your organisation.
    Respond {
        id: String,
        /// applies or does_not_apply.
        applicability: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Post a progress update on remediation.
    Update {
        id: String,
        /// Where remediation stands.
        note: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Close an advisory for your organisation (remediated); with --all, close it for
    /// everyone (central analysts).
    Close {
        id: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        all: bool,
    },
    /// Who did what when: each recipient's deadlines, answers and standing.
    Compliance {
        id: String,
        /// Print CSV (for a spreadsheet) instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

fn print(json_mode: bool, v: &Value, columns: &[&str]) {
    if json_mode {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    match v {
        Value::Array(rows) => table(rows, columns),
        other => table(std::slice::from_ref(other), columns),
    }
}

const RECIPIENT_COLUMNS: &[&str] = &[
    "advisory_id",
    "org_code",
    "acknowledged_at",
    "applicability",
    "update_count",
    "closed_at",
    "reminders",
];

/// Times as RFC 3339 in tables; JSON keeps epoch milliseconds.
fn humanise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.ends_with("_at") {
                    if let Some(ms) = val.as_i64() {
                        *val = Value::String(ward_model::clock::rfc3339(ms));
                        continue;
                    }
                }
                humanise(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(humanise),
        _ => {}
    }
}

fn path_id(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

pub async fn run(cmd: &AdvisoryCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        AdvisoryCmd::List { status, org } => {
            if let Some(org) = org {
                let mut v: Value = api
                    .get(&format!("/api/v1/organisations/{org}/advisories"))
                    .await?;
                if json_mode {
                    print(true, &v, &[]);
                    return Ok(());
                }
                humanise(&mut v);
                let rows: Vec<Value> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                json!({
                                    "id": x["advisory"]["id"], "tlp": x["advisory"]["tlp"],
                                    "severity": x["advisory"]["severity"], "title": x["advisory"]["title"],
                                    "standing": x["compliance"]["standing"],
                                    "acknowledged_at": x["compliance"]["acknowledged_at"],
                                    "applicability": x["compliance"]["applicability"],
                                    "closed_at": x["compliance"]["closed_at"],
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(
                    &rows,
                    &[
                        "id",
                        "tlp",
                        "severity",
                        "title",
                        "standing",
                        "acknowledged_at",
                        "applicability",
                        "closed_at",
                    ],
                );
                return Ok(());
            }
            let path = match status {
                Some(s) => format!("/api/v1/advisories?status={s}"),
                None => "/api/v1/advisories".to_string(),
            };
            let mut v: Value = api.get(&path).await?;
            if !json_mode {
                humanise(&mut v);
            }
            print(
                json_mode,
                &v,
                &[
                    "id",
                    "status",
                    "tlp",
                    "severity",
                    "title",
                    "recipient_count",
                    "published_at",
                ],
            );
        }
        AdvisoryCmd::Show { id } => {
            let mut v: Value = api
                .get(&format!("/api/v1/advisories/{}", path_id(id)))
                .await?;
            if json_mode {
                print(true, &v, &[]);
                return Ok(());
            }
            humanise(&mut v);
            let a = &v["advisory"];
            println!(
                "{}  [{}]  TLP:{}  {}",
                a["id"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or(""),
                a["tlp"].as_str().unwrap_or(""),
                a["severity"].as_str().unwrap_or("")
            );
            println!("{}", a["title"].as_str().unwrap_or(""));
            println!("\n{}", a["summary"].as_str().unwrap_or(""));
            for (label, key) in [
                ("Affected", "affected"),
                ("Actions", "actions"),
                ("CVEs", "cves"),
                ("References", "references"),
            ] {
                if let Some(items) = a[key].as_array().filter(|x| !x.is_empty()) {
                    println!("\n{label}:");
                    for i in items {
                        println!("  - {}", i.as_str().unwrap_or(""));
                    }
                }
            }
            println!();
            table(
                v["recipients"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                RECIPIENT_COLUMNS,
            );
            println!();
            table(
                v["log"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                &["at", "org_code", "actor", "action", "note"],
            );
        }
        AdvisoryCmd::Create {
            title,
            summary,
            severity,
            tlp,
            affected,
            actions,
            references,
            cves,
            all,
            region,
            kind,
            orgs,
            exposed_to,
            publish,
        } => {
            let target = match (*all, region, kind, orgs.is_empty(), exposed_to) {
                (true, None, None, true, None) => json!({"type": "all"}),
                (false, Some(r), None, true, None) => json!({"type": "region", "region": r}),
                (false, None, Some(k), true, None) => json!({"type": "kind", "kind": k}),
                (false, None, None, false, None) => json!({"type": "orgs", "orgs": orgs}),
                (false, None, None, true, Some(c)) => json!({"type": "cve", "cve": c}),
                _ => anyhow::bail!(
                    "say who receives it with exactly one of --all, --region, --kind, --orgs, --exposed-to"
                ),
            };
            let tlp = tlp
                .trim()
                .trim_start_matches("TLP:")
                .trim_start_matches("tlp:")
                .to_ascii_uppercase();
            let v: Value = api
                .post(
                    "/api/v1/advisories",
                    &json!({
                        "title": title, "summary": summary, "severity": severity, "tlp": tlp,
                        "affected": affected, "actions": actions, "references": references,
                        "cves": cves, "target": target, "publish": publish,
                    }),
                )
                .await
                .context("creating the advisory")?;
            print(json_mode, &v, &["id", "status", "tlp", "severity", "title"]);
        }
        AdvisoryCmd::Publish { id, exposed } => {
            let body = if exposed.is_empty() {
                json!({})
            } else {
                json!({ "exposed": exposed })
            };
            let mut v: Value = api
                .post(
                    &format!("/api/v1/advisories/{}/publish", path_id(id)),
                    &body,
                )
                .await?;
            if !json_mode {
                humanise(&mut v);
            }
            print(
                json_mode,
                &v,
                &["id", "status", "tlp", "title", "published_at"],
            );
        }
        AdvisoryCmd::Ack { id, org, note } => {
            let v: Value = api
                .post(
                    &format!("/api/v1/advisories/{}/ack", path_id(id)),
                    &json!({"org": org, "note": note}),
                )
                .await?;
            show_recipient(json_mode, v);
        }
        AdvisoryCmd::Respond {
            id,
            applicability,
            org,
            note,
        } => {
            let v: Value = api
                .post(
                    &format!("/api/v1/advisories/{}/respond", path_id(id)),
                    &json!({"org": org, "applicability": applicability, "note": note}),
                )
                .await?;
            show_recipient(json_mode, v);
        }
        AdvisoryCmd::Update { id, note, org } => {
            let v: Value = api
                .post(
                    &format!("/api/v1/advisories/{}/updates", path_id(id)),
                    &json!({"org": org, "note": note}),
                )
                .await?;
            show_recipient(json_mode, v);
        }
        AdvisoryCmd::Close { id, org, note, all } => {
            if *all {
                let mut v: Value = api
                    .post(
                        &format!("/api/v1/advisories/{}/close", path_id(id)),
                        &json!({"note": note}),
                    )
                    .await?;
                if !json_mode {
                    humanise(&mut v);
                }
                print(json_mode, &v, &["id", "status", "title", "closed_at"]);
            } else {
                let v: Value = api
                    .post(
                        &format!("/api/v1/advisories/{}/remediated", path_id(id)),
                        &json!({"org": org, "note": note}),
                    )
                    .await?;
                show_recipient(json_mode, v);
            }
        }
        AdvisoryCmd::Compliance { id, csv } => {
            if *csv {
                let path = format!("/api/v1/advisories/{}/compliance.csv", path_id(id));
                let text = api.raw(Method::GET, &path, None, None).await?;
                print!("{text}");
                return Ok(());
            }
            let mut v: Value = api
                .get(&format!("/api/v1/advisories/{}/compliance", path_id(id)))
                .await?;
            if json_mode {
                print(true, &v, &[]);
                return Ok(());
            }
            humanise(&mut v);
            let s = &v["summary"];
            println!(
                "{}: {} recipients, {} acknowledged, {} apply, {} do not apply, {} remediated, {} overdue",
                v["advisory"]["id"].as_str().unwrap_or(""),
                s["recipients"], s["acknowledged"], s["applies"], s["does_not_apply"],
                s["remediated"], s["overdue"]
            );
            table(
                v["members"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                &[
                    "org_code",
                    "standing",
                    "acknowledged_at",
                    "applicability",
                    "update_count",
                    "next_update_due_at",
                    "closed_at",
                    "reminders",
                ],
            );
        }
    }
    Ok(())
}

fn show_recipient(json_mode: bool, mut v: Value) {
    if !json_mode {
        humanise(&mut v);
    }
    print(json_mode, &v, RECIPIENT_COLUMNS);
}
