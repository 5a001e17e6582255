//! Throughput of the pure e-mail pipeline: detection, link extraction, routing and payload
//! building on a generated ~200 KB HTML e-mail (markup, entities, accents, ~20 provider links).
//! Native figures: the worker runs the same code compiled to wasm, typically a few times slower.
//! Two 25 MB scenarios (the largest accepted body) check that no stage gets near a second: one
//! whose only delivery time is rule 7 at the very end, so every earlier rule scans it all.
//!
//! Run with `cargo bench --bench pipeline` (optionally `-- <seconds>` per scenario, default 2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use facteur_core::analysis::detect::detect;
use facteur_core::analysis::email::EmailRecord;
use facteur_core::analysis::links::extract_links;
use facteur_core::analysis::payload::{build_payload, Analysis};
use facteur_core::analysis::routing::{route, validate_rules, RoutingRules};
use facteur_core::gating::WindowFields;
use serde_json::json;

/// Size the generated body is grown to.
const TARGET_BYTES: usize = 200 * 1024;
/// `MAX_EMAIL_SIZE_MB`: the largest body the worker accepts.
const LARGE_BYTES: usize = 25 * 1024 * 1024;

/// The shared benchmark inputs (bench/core-worker times the same ones in workerd).
#[path = "../../bench/core-worker/src/inputs.rs"]
#[allow(dead_code)]
mod inputs;

/// [`inputs::html_body`] of 200 KB, the time sentence early.
fn html_body(time_sentence: &str) -> String {
    inputs::html_body(time_sentence, TARGET_BYTES, false)
}

/// [`inputs::html_body`] of `target` bytes.
fn html_body_sized(time_sentence: &str, target: usize, time_last: bool) -> String {
    inputs::html_body(time_sentence, target, time_last)
}

fn rules() -> RoutingRules {
    let doc = json!({"rules": [
        {"name": "VIP", "conditions": [{"field": "sender", "operator": "equals", "value": "boss@example.com"}],
         "actions": {"webhook_url": "https://hook.example/vip", "stop_processing": true}},
        {"name": "Invoices", "conditions": [{"field": "subject", "operator": "contains", "value": "facture"}],
         "actions": {"webhook_url": "https://hook.example/invoices"}},
        {"name": "Orders", "conditions": [{"field": "body", "operator": "regex", "value": r"commande\s+n°\s*\d{6}"}],
         "actions": {"webhook_url": "https://hook.example/orders"}},
        {"name": "Lots", "conditions": [
            {"field": "subject", "operator": "contains", "value": "lot"},
            {"field": "body", "operator": "contains", "value": "colorimétrie"}],
         "actions": {"webhook_url": "https://hook.example/lots", "priority": "high"}},
    ]});
    validate_rules(&doc).expect("valid bench rules")
}

struct Scenario {
    name: &'static str,
    subject: &'static str,
    body: String,
}

fn run(s: &Scenario, rules: &RoutingRules, budget: Duration) {
    let tz = chrono_tz::Europe::Paris;
    let now = tz
        .with_ymd_and_hms(2026, 6, 1, 9, 5, 0)
        .single()
        .expect("valid time");
    let email = EmailRecord {
        email_id: "ef626f4a3197550e73b6e5a1b3cdc39e".into(),
        subject: s.subject.into(),
        sender: "Média Solution <notification@example.com>".into(),
        sender_email: "notification@example.com".into(),
        body: s.body.clone(),
        date: "2026-06-01T07:05:00Z".into(),
        received_at_ms: 0,
    };
    let window = WindowFields {
        webhooks_time_start: Some("maintenant".into()),
        webhooks_time_end: None,
    };
    let mut stage = [Duration::ZERO; 4];
    let (mut n, mut links, mut detector) = (0u64, 0, None);
    let started = Instant::now();
    while started.elapsed() < budget {
        let t0 = Instant::now();
        let detection = detect(&email.subject, &email.body, now);
        let t1 = Instant::now();
        let found = extract_links(&email.body);
        let t2 = Instant::now();
        let decision = route(
            rules,
            Some("https://hook.example/default"),
            &email.sender_email,
            &email.subject,
            &email.body,
        );
        let t3 = Instant::now();
        let analysis = Analysis {
            detector: detection.detector_name().map(str::to_string),
            delivery_time: detection.delivery_time().map(str::to_string),
            links: found.links,
            links_dropped: found.dropped,
            rules_budget_exhausted: decision.as_ref().is_ok_and(|d| d.budget_exhausted),
        };
        let payload = build_payload(email.clone(), &analysis, &window);
        let t4 = Instant::now();
        black_box((&decision, &payload));
        for (acc, d) in stage.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *acc += d;
        }
        links = analysis.links.len();
        detector = analysis.detector;
        n += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let mb = email.body.len() as f64 / 1e6;
    println!(
        "{:<12} body {:>6.1} KB, detector {:<30} links {:>2}: {:>8.1} e-mails/s, {:>7.1} MB/s  ({} runs in {:.2} s)",
        s.name,
        email.body.len() as f64 / 1024.0,
        detector.unwrap_or_else(|| "-".into()),
        links,
        n as f64 / secs,
        n as f64 * mb / secs,
        n,
        secs
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{:<12} per e-mail: detect {:.0} µs, extract {:.0} µs, route {:.0} µs, payload {:.0} µs",
        "",
        per(stage[0]),
        per(stage[1]),
        per(stage[2]),
        per(stage[3])
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the budget per scenario in seconds.
    let secs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs.max(0.1));
    let rules = rules();
    let scenarios = [
        Scenario {
            name: "recadrage",
            subject: "Média Solution - Missions Recadrage - Lot 12",
            body: html_body("À faire pour le 12/03/2026 à 14h30"),
        },
        Scenario {
            name: "desabo",
            subject: "Désabonnement",
            body: html_body("Pour la journée aux tarifs habituels, merci de vous désabonner."),
        },
        Scenario {
            name: "undetected",
            subject: "Nouvelles photos",
            body: html_body("Bonne journée !"),
        },
        Scenario {
            name: "desabo-25MB",
            subject: "Désabonnement",
            body: html_body_sized(
                "Pour la journée aux tarifs habituels, merci de vous désabonner.",
                LARGE_BYTES,
                false,
            ),
        },
        Scenario {
            name: "late-25MB",
            subject: "Média Solution - Missions Recadrage - Lot 12",
            body: html_body_sized("Rendez-vous à 14:30.", LARGE_BYTES, true),
        },
    ];
    println!(
        "pipeline bench: detect + extract_links + route + build_payload, {secs} s per scenario"
    );
    for s in &scenarios {
        run(s, &rules, budget);
    }
}
