//! `ward demo`: a federation, an outbreak, a national incident and the messages it caused.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::Api;
use crate::commands::table;

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo server listens; if taken, a free port is used instead.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Seed of the synthetic outbreak.
    #[arg(long, default_value_t = 2017)]
    seed: u64,
    /// Stop after showing the results instead of serving until Ctrl-C.
    #[arg(long)]
    exit: bool,
    /// Write notifications to the log instead of sending them through a local GOV.UK Notify
    /// stand-in.
    #[arg(long)]
    log_notifications: bool,
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ward-demo-")
        .tempdir()
        .context("creating a temporary data directory")?;
    let mut cfg = ward_config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    cfg.http.listen = args.listen.clone();
    // Messages go through the real GOV.UK Notify API path (JWT, templates, references) to a
    // stand-in on loopback, with its test key: every demo number is "delivered".
    let standin = if args.log_notifications {
        None
    } else {
        let s =
            ward_notify_standin::bind("127.0.0.1:0", ward_notify_standin::StandinConfig::default())
                .await?;
        cfg.notify.provider = "govuk_notify".into();
        cfg.notify.api_key = s.api_key("ward-test");
        cfg.notify.base_url = s.base_url();
        cfg.notify.sms_template_id =
            Some(ward_notify_standin::config::defaults::SMS_TEMPLATE_ID.to_string());
        cfg.notify.email_template_id =
            Some(ward_notify_standin::config::defaults::EMAIL_TEMPLATE_ID.to_string());
        Some(s)
    };
    let server = match ward_server::start(cfg.clone()).await {
        Ok(s) => s,
        Err(ward_server::ServerError::Bind { .. }) => {
            cfg.http.listen = "127.0.0.1:0".into();
            ward_server::start(cfg).await?
        }
        Err(e) => return Err(e.into()),
    };
    let token = server
        .admin_token
        .clone()
        .context("the fresh demo server has no admin token")?;
    let api = Api::new(server.url(), Some(token.clone()))?;
    println!(
        "ward demo: server on {} with data in {}",
        server.url(),
        dir.path().display()
    );

    let orgs = ward_scenario::federation();
    let mut keys: BTreeMap<String, Api> = BTreeMap::new();
    for org in &orgs {
        let _: Value = api
            .post(
                "/api/v1/organisations",
                &json!({"ods_code": org.ods_code, "name": org.name, "kind": org.kind.as_str(), "region": org.region}),
            )
            .await?;
        for c in &org.contacts {
            let _: Value = api
                .post(
                    &format!("/api/v1/organisations/{}/contacts", org.ods_code),
                    &json!({"name": c.name, "phone": c.phone, "email": c.email, "role": c.role}),
                )
                .await?;
        }
        let created: Value = api
            .post(
                &format!("/api/v1/organisations/{}/keys", org.ods_code),
                &json!({"label": "demo collector"}),
            )
            .await?;
        let secret = created["secret"]
            .as_str()
            .context("no secret in key reply")?;
        keys.insert(org.ods_code.clone(), api.with_token(secret));
    }
    let regions: std::collections::BTreeSet<_> = orgs.iter().map(|o| o.region.as_str()).collect();
    println!(
        "federation: {} organisations in {} regions, each with an API key and two contacts",
        orgs.len(),
        regions.len()
    );

    let events = ward_scenario::outbreak(&orgs, args.seed);
    let bar = ProgressBar::new(events.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("replaying outbreak {bar:30} {pos}/{len} events {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    // Events due in the same 100 ms from the same member go as one batch, as a collector would.
    let mut i = 0;
    while i < events.len() {
        let slot = events[i].delay_ms / 100;
        let mut batches: BTreeMap<&str, String> = BTreeMap::new();
        while i < events.len() && events[i].delay_ms / 100 == slot {
            let e = &events[i];
            let body = batches.entry(e.org.as_str()).or_default();
            body.push_str(&e.event.to_string());
            body.push('\n');
            i += 1;
        }
        let due = Duration::from_millis(slot * 100);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        for (org, body) in batches {
            let n = body.lines().count() as u64;
            let sender = keys
                .get(org)
                .context("event from an organisation without a key")?;
            sender.post_ndjson(body.into()).await?;
            bar.inc(n);
        }
    }
    bar.finish_with_message(format!("sent in {:.1} s", start.elapsed().as_secs_f64()));

    // Wait for detection and the dispatcher to finish their work.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (incidents, notes) = loop {
        let incidents: Value = api.get("/api/v1/incidents?limit=200").await?;
        let notes: Value = api.get("/api/v1/notifications?limit=1000").await?;
        let national = incidents
            .as_array()
            .map(|a| a.iter().any(|i| i["scope"] == "national"))
            .unwrap_or(false);
        let pending = notes
            .as_array()
            .map(|a| a.iter().any(|n| n["status"] == "pending"))
            .unwrap_or(true);
        if (national && !pending) || Instant::now() > deadline {
            break (incidents, notes);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let detections: Value = api.get("/api/v1/detections?limit=1000").await?;
    let n_det = detections.as_array().map(Vec::len).unwrap_or(0);
    println!(
        "\n{n_det} detections within {:.1} s of the first event.\n",
        start.elapsed().as_secs_f64()
    );
    let all = incidents.as_array().cloned().unwrap_or_default();
    let (national, local): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|i| i["scope"] == "national");
    println!("National incidents:");
    table(
        &national,
        &["id", "severity", "title", "organisations", "rules"],
    );
    let grouped = local.iter().filter(|i| !i["parent_id"].is_null()).count();
    println!(
        "\n{} local incidents, {grouped} of them grouped under the national incident.",
        local.len()
    );
    let notes_arr = notes.as_array().cloned().unwrap_or_default();
    let sent = notes_arr.iter().filter(|n| n["status"] == "sent").count();
    let provider = match &standin {
        Some(s) => format!("GOV.UK Notify API, stand-in at {}", s.base_url()),
        None => "log".to_string(),
    };
    println!(
        "\nNotifications: {} queued, {} sent (provider: {provider}). The national incident's SMS:",
        notes_arr.len(),
        sent
    );
    let national_ids: Vec<i64> = incidents
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["scope"] == "national")
                .filter_map(|i| i["id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    let national_sms: Vec<Value> = notes_arr
        .iter()
        .filter(|n| {
            n["channel"] == "sms" && national_ids.contains(&n["incident_id"].as_i64().unwrap_or(-1))
        })
        .cloned()
        .collect();
    table(
        &national_sms,
        &[
            "org_code",
            "contact_name",
            "destination",
            "status",
            "attempts",
        ],
    );
    if let Some(first) = national_sms.first() {
        println!(
            "\nThe text they received:\n  {}",
            first["body"].as_str().unwrap_or_default()
        );
    }
    if national_ids.is_empty() {
        anyhow::bail!("the outbreak did not produce a national incident; see the server log above");
    }
    let login = format!("{}/login?token={token}", server.url());
    println!("\nWatch it in a browser: {login}");
    if let Some(s) = &standin {
        let st = s.stats();
        println!(
            "The Notify stand-in accepted {} sends with valid JWTs and refused {}; {} rate-limited.",
            st.sends_accepted, st.sends_refused, st.rate_limited
        );
    }
    if args.exit {
        server.shutdown().await;
        if let Some(s) = standin {
            s.shutdown().await;
        }
        return Ok(());
    }
    println!("Serving until Ctrl-C.");
    server.run_until(crate::shutdown_signal()).await;
    if let Some(s) = standin {
        s.shutdown().await;
    }
    drop(dir);
    Ok(())
}
