//! `ward escalation …`: policies, rotas and who is on call, silences, triage, chases.

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Api;
use crate::commands::table;

#[derive(Subcommand)]
pub enum EscalationCmd {
    /// Who is on call now (or --at, epoch ms) on each of an organisation's rotas.
    OnCall {
        org: String,
        #[arg(long)]
        at: Option<i64>,
    },
    /// Escalation policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// On-call rotas.
    #[command(subcommand)]
    Rota(RotaCmd),
    /// Silences: matching detections are stored but open and notify nothing.
    #[command(subcommand)]
    Silence(SilenceCmd),
    /// Set an incident's severity (1-4), TLP or assignees.
    Triage {
        incident: i64,
        #[arg(long)]
        severity: Option<i64>,
        /// clear, green, amber, amber+strict or red.
        #[arg(long)]
        tlp: Option<String>,
        /// The full list of assignees (repeat the option); replaces the current one.
        #[arg(long = "assignee")]
        assignees: Vec<String>,
        /// Remove every assignee.
        #[arg(long, conflicts_with = "assignees")]
        unassign: bool,
    },
    /// Acknowledge an incident and stop its escalation on every channel.
    Ack {
        incident: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// The escalation chases of an incident.
    Chases { incident: i64 },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    List {
        org: String,
    },
    /// Add a policy from a JSON file: {"name", "min_severity", "steps": [{"delay_secs",
    /// "targets": [{"kind": "role", "role": "deputy"} | {"kind": "contact", "contact_id": 3} |
    /// {"kind": "rota", "rota_id": 1}], "channels": ["sms", "email"]}], "repeat_delay_secs",
    /// "max_rounds"}.
    Add {
        org: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    Delete {
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum RotaCmd {
    List {
        org: String,
    },
    Add {
        org: String,
        #[arg(long)]
        name: String,
        /// daily or weekly.
        #[arg(long, default_value = "weekly")]
        period: String,
        /// Contact ids in turn order, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<i64>,
        /// Epoch ms of the first handover (default now).
        #[arg(long)]
        starts_at: Option<i64>,
    },
    /// Have a contact cover a rota between two instants (epoch ms).
    Override {
        rota: i64,
        #[arg(long)]
        contact: i64,
        #[arg(long)]
        from: i64,
        #[arg(long)]
        until: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum SilenceCmd {
    /// List silences in force (--all: expired ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Add a silence: every --match field=value must hold (rule_id, rule_title, org, host,
    /// level, tag or event.<path>).
    Add {
        /// Limit it to one organisation (omit: federation-wide, analysts only).
        #[arg(long)]
        org: Option<String>,
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
        #[arg(long)]
        reason: String,
        /// How long, in seconds.
        #[arg(long = "for-secs")]
        for_secs: u64,
    },
    /// End a silence now.
    Expire { id: i64 },
}

fn output(json_mode: bool, v: &Value, columns: &[&str]) {
    if json_mode {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    match v {
        Value::Array(rows) => table(rows, columns),
        other => table(std::slice::from_ref(other), columns),
    }
}

pub async fn run(cmd: &EscalationCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        EscalationCmd::OnCall { org, at } => {
            let mut path = format!("/api/v1/organisations/{org}/on-call");
            if let Some(at) = at {
                path.push_str(&format!("?at={at}"));
            }
            let v: Value = api.get(&path).await?;
            if json_mode {
                output(true, &v, &[]);
            } else {
                let rows: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        json!({
                            "rota": e["rota"]["name"],
                            "on_call": e["contact"]["name"],
                            "phone": e["contact"]["phone"],
                            "until": e["on_call"]["until"].as_i64().map(ward_model::clock::rfc3339),
                            "override": e["on_call"]["override_id"],
                        })
                    })
                    .collect();
                table(&rows, &["rota", "on_call", "phone", "until", "override"]);
            }
        }
        EscalationCmd::Policy(PolicyCmd::List { org }) => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{org}/escalation-policies"))
                .await?;
            output(json_mode, &v, &["id", "name", "min_severity", "max_rounds"]);
        }
        EscalationCmd::Policy(PolicyCmd::Add { org, file }) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{org}/escalation-policies"),
                    &body,
                )
                .await?;
            output(json_mode, &v, &["id", "name", "min_severity", "max_rounds"]);
        }
        EscalationCmd::Policy(PolicyCmd::Delete { id }) => {
            let _: Value = api
                .request(
                    Method::DELETE,
                    &format!("/api/v1/escalation-policies/{id}"),
                    None,
                )
                .await?;
            if !json_mode {
                println!("escalation policy {id} deleted");
            }
        }
        EscalationCmd::Rota(RotaCmd::List { org }) => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{org}/rotas"))
                .await?;
            output(json_mode, &v, &["id", "name", "period", "members"]);
        }
        EscalationCmd::Rota(RotaCmd::Add {
            org,
            name,
            period,
            members,
            starts_at,
        }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/organisations/{org}/rotas"),
                    &json!({"name": name, "period": period, "members": members, "starts_at": starts_at}),
                )
                .await?;
            output(json_mode, &v, &["id", "name", "period", "members"]);
        }
        EscalationCmd::Rota(RotaCmd::Override {
            rota,
            contact,
            from,
            until,
            reason,
        }) => {
            let v: Value = api
                .post(
                    &format!("/api/v1/rotas/{rota}/overrides"),
                    &json!({"contact_id": contact, "starts_at": from, "ends_at": until, "reason": reason}),
                )
                .await?;
            output(
                json_mode,
                &v,
                &["id", "rota_id", "contact_id", "starts_at", "ends_at"],
            );
        }
        EscalationCmd::Silence(SilenceCmd::List { all }) => {
            let v: Value = api.get(&format!("/api/v1/silences?all={all}")).await?;
            output(
                json_mode,
                &v,
                &["id", "org_code", "reason", "author", "expires_at"],
            );
        }
        EscalationCmd::Silence(SilenceCmd::Add {
            org,
            matchers,
            reason,
            for_secs,
        }) => {
            let mut parsed = Vec::new();
            for m in matchers {
                let (field, value) = m.split_once('=').with_context(|| {
                    format!("--match {m:?}: expected field=value, e.g. host=PC1")
                })?;
                parsed.push(json!({"field": field.trim(), "value": value.trim()}));
            }
            let v: Value = api
                .post(
                    "/api/v1/silences",
                    &json!({"org": org, "matchers": parsed, "reason": reason, "duration_secs": for_secs}),
                )
                .await?;
            output(json_mode, &v, &["id", "org_code", "reason", "expires_at"]);
        }
        EscalationCmd::Silence(SilenceCmd::Expire { id }) => {
            let v: Value = api
                .request(Method::DELETE, &format!("/api/v1/silences/{id}"), None)
                .await?;
            output(json_mode, &v, &["id", "reason", "expires_at"]);
        }
        EscalationCmd::Triage {
            incident,
            severity,
            tlp,
            assignees,
            unassign,
        } => {
            let mut body = json!({});
            if let Some(s) = severity {
                body["severity"] = json!(s);
            }
            if let Some(t) = tlp {
                body["tlp"] = json!(t);
            }
            if !assignees.is_empty() || *unassign {
                body["assignees"] = json!(assignees);
            }
            let v: Value = api
                .post(&format!("/api/v1/incidents/{incident}/triage"), &body)
                .await?;
            output(
                json_mode,
                &v,
                &["incident_id", "severity", "tlp", "assignees"],
            );
        }
        EscalationCmd::Ack { incident, comment } => {
            let v: Value = api
                .post(
                    &format!("/api/v1/incidents/{incident}/acknowledge"),
                    &json!({"comment": comment}),
                )
                .await?;
            output(json_mode, &v, &["at", "actor", "from_status", "to_status"]);
        }
        EscalationCmd::Chases { incident } => {
            let v: Value = api
                .get(&format!("/api/v1/incidents/{incident}/chases"))
                .await?;
            output(
                json_mode,
                &v,
                &[
                    "id",
                    "org_code",
                    "state",
                    "steps_fired",
                    "next_due_at",
                    "ended_by",
                ],
            );
        }
    }
    Ok(())
}
