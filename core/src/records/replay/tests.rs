use serde_json::{json, Map};

use super::*;
use crate::analysis::payload::{build_payload, Analysis};
use crate::analysis::routing::validate_rules;
use crate::base::ids::delivery_id;
use crate::gating::WindowFields;

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a Thursday

fn req(v: Value) -> Result<ReplayRequest, ApiError> {
    ReplayRequest::from_json(&v)
}

fn entry(
    delivery: Option<&str>,
    email: &str,
    status: LogStatus,
    ms: i64,
    target: &str,
) -> LogEntry {
    let e = LogEntry::about_email(format!("log_{ms}_{delivery:?}"), email, status, "r", ms);
    match delivery {
        Some(d) => e.for_delivery(target, d, Some("recadrage".into()), 1, 1),
        None => e,
    }
}

#[test]
fn an_empty_filter_takes_everything_up_to_the_default_limit() {
    assert!(
        req(Value::Null).is_err(),
        "no body is a mistake, not \"everything\""
    );
    for body in [json!({}), json!({"status": null, "target": "  "})] {
        let r = req(body).unwrap();
        assert_eq!(r.filter, ReplayFilter::default());
        assert_eq!((r.limit, r.reroute), (DEFAULT_LIMIT, false));
    }
    let r = req(json!({"reroute": true})).unwrap();
    assert_eq!((r.limit, r.reroute), (MAX_REROUTE_LIMIT, true));
}

#[test]
fn every_field_is_read_and_bad_ones_are_named() {
    let r = req(json!({
        "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T02:00:00+01:00", "target": "Hooks.Receiver",
        "status": "error", "detector": "recadrage", "email_id": "ABC", "limit": 7,
    }))
    .unwrap();
    assert_eq!(r.filter.from_ms, Some(NOW));
    assert_eq!(r.filter.to_ms, Some(NOW + 3_600_000));
    assert_eq!(r.filter.target.as_deref(), Some("hooks.receiver"));
    assert_eq!(r.filter.status, Some(LogStatus::Error));
    assert_eq!(r.filter.email_id.as_deref(), Some("abc"));
    assert_eq!(r.limit, 7);
    let cases = [
        (json!([1]), "body"),
        (json!({"since": "x"}), "since"),
        (json!({"from": "yesterday"}), "from"),
        (json!({"from": 5}), "from"),
        (
            json!({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "to",
        ),
        (json!({"status": "skipped"}), "status"),
        (json!({"status": "nope"}), "status"),
        (json!({"target": 3}), "target"),
        (json!({"limit": 0}), "limit"),
        (json!({"limit": MAX_LIMIT + 1}), "limit"),
        (json!({"limit": "10"}), "limit"),
        (json!({"limit": 51, "reroute": true}), "limit"),
        (json!({"reroute": "yes"}), "reroute"),
    ];
    for (body, field) in cases {
        let e = req(body.clone()).unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
        assert!(e.message.contains(field), "{body}: {}", e.message);
    }
    assert!(req(json!({"limit": 51, "reroute": true}))
        .unwrap_err()
        .message
        .contains("with reroute"));
}

#[test]
fn the_log_is_read_back_to_from() {
    let q = req(json!({})).unwrap().log_query(NOW);
    assert_eq!((q.days, q.limit, q.status), (7, MAX_LOG_SCAN, None));
    let q = req(json!({"from": "2025-12-29T12:00:00Z", "email_id": "e"}))
        .unwrap()
        .log_query(NOW);
    assert_eq!((q.days, q.email_id.as_deref()), (3, Some("e")));
    let far = req(json!({"from": "2025-01-01T00:00:00Z"}))
        .unwrap()
        .log_query(NOW);
    assert_eq!(far.days, 30);
}

#[test]
fn a_delivery_is_judged_by_its_newest_entry() {
    let a = "https://a.example/hook-secret";
    let b = "https://b.example/x";
    // Newest first, as the log API merges them.
    let entries = vec![
        entry(Some("dlv_1"), "e1", LogStatus::Success, NOW - 1_000, a),
        entry(None, "e9", LogStatus::Skipped, NOW - 1_500, ""),
        entry(Some("dlv_2"), "e2", LogStatus::Error, NOW - 2_000, b),
        entry(Some("dlv_1"), "e1", LogStatus::Error, NOW - 3_000, a),
        entry(Some("dlv_3"), "e3", LogStatus::Error, NOW - 4_000, a),
        entry(Some("dlv_3"), "e3", LogStatus::Retrying, NOW - 5_000, a),
    ];
    let ids = |f: &ReplayFilter, limit| -> Vec<String> {
        select(&entries, f, limit)
            .deliveries
            .into_iter()
            .map(|d| d.delivery_id)
            .collect()
    };
    let all = ReplayFilter::default();
    assert_eq!(
        ids(&all, 10),
        ["dlv_1", "dlv_2", "dlv_3"],
        "one per delivery, newest first"
    );
    let errors = ReplayFilter {
        status: Some(LogStatus::Error),
        ..Default::default()
    };
    assert_eq!(
        ids(&errors, 10),
        ["dlv_2", "dlv_3"],
        "dlv_1 succeeded since"
    );
    let on_a = ReplayFilter {
        target: Some("A.EXAMPLE".to_lowercase()),
        ..Default::default()
    };
    assert_eq!(ids(&on_a, 10), ["dlv_1", "dlv_3"]);
    let secret = ReplayFilter {
        target: Some("secret".into()),
        ..Default::default()
    };
    assert!(
        ids(&secret, 10).is_empty(),
        "only the masked label is matched"
    );
    let window = ReplayFilter {
        from_ms: Some(NOW - 4_000),
        to_ms: Some(NOW - 1_000),
        ..Default::default()
    };
    assert_eq!(
        ids(&window, 10),
        ["dlv_2", "dlv_3"],
        "from inclusive, to exclusive"
    );
    let by_email = ReplayFilter {
        email_id: Some("e3".into()),
        detector: Some("recadrage".into()),
        ..Default::default()
    };
    assert_eq!(ids(&by_email, 10), ["dlv_3"]);
    let other_detector = ReplayFilter {
        detector: Some("desabonnement_journee_tarifs".into()),
        ..Default::default()
    };
    assert!(ids(&other_detector, 10).is_empty());
    let cut = select(&entries, &all, 2);
    assert_eq!(cut.deliveries.len(), 2);
    assert!(cut.more);
    assert!(!select(&entries, &all, 3).more);
    assert_eq!(cut.known.len(), 3, "every delivery read is known");
    let item = cut.deliveries[0].item();
    assert_eq!(item["target"], "https://a.example/hook…");
    assert_eq!(item["status"], "success");
    assert!(!item.to_string().contains("secret"));
}

fn email(body: &str) -> EmailRecord {
    EmailRecord {
        email_id: "0123456789abcdef0123456789abcdef".into(),
        subject: "Sujet".into(),
        sender: "Jane <jane@example.com>".into(),
        sender_email: "jane@example.com".into(),
        body: body.into(),
        date: "2026-01-01T00:00:00Z".into(),
        received_at_ms: NOW,
    }
}

fn archived_payload(body: &str, links: Vec<DeliveryLink>) -> String {
    let analysis = Analysis {
        links,
        ..Default::default()
    };
    serde_json::to_string(&build_payload(
        email(body),
        &analysis,
        &WindowFields::default(),
    ))
    .unwrap()
}

fn docs(url: &str) -> Documents {
    let mut d = Documents::from_maps(&Map::new(), &Map::new(), &Map::new());
    d.webhook.webhook_url = Some(url.into());
    d
}

#[test]
fn the_archived_payload_gives_the_e_mail_back() {
    let link = DeliveryLink {
        provider: "dropbox".into(),
        raw_url: "https://www.dropbox.com/s/a".into(),
        direct_url: "https://www.dropbox.com/s/a?dl=1".into(),
        r2_url: Some("https://m/a".into()),
        original_filename: None,
    };
    let text = archived_payload("<p>Bonjour</p>", vec![link.clone()]);
    assert_eq!(
        email_from_payload(&text, NOW),
        Some((email("<p>Bonjour</p>"), vec![link]))
    );
    assert_eq!(email_from_payload("{}", NOW), None);
    assert_eq!(email_from_payload("[]", NOW), None);
}

#[test]
fn r2_copies_are_carried_over_by_link() {
    let link = |raw: &str, r2: Option<&str>| DeliveryLink {
        provider: "dropbox".into(),
        raw_url: raw.into(),
        direct_url: raw.into(),
        r2_url: r2.map(str::to_string),
        original_filename: r2.map(|_| "f.zip".to_string()),
    };
    let mut found = vec![
        link("https://dropbox.com/a", None),
        link("https://dropbox.com/b", None),
    ];
    carry_offloads(
        &mut found,
        &[link("https://dropbox.com/b", Some("https://m/b"))],
    );
    assert_eq!(found[0].r2_url, None);
    assert_eq!(found[1].r2_url.as_deref(), Some("https://m/b"));
    assert_eq!(found[1].original_filename.as_deref(), Some("f.zip"));
}

#[test]
fn rerouting_plans_again_with_the_current_rules() {
    let body = "<p>https://www.dropbox.com/s/abc/f.zip?dl=0</p>";
    let r2 = DeliveryLink {
        provider: "dropbox".into(),
        raw_url: "https://www.dropbox.com/s/abc/f.zip?dl=0".into(),
        direct_url: "https://www.dropbox.com/s/abc/f.zip?dl=1".into(),
        r2_url: Some("https://media.test/k".into()),
        original_filename: Some("f.zip".into()),
    };
    let text = archived_payload(body, vec![r2]);
    let default = "https://hooks.example/default";
    let rules = validate_rules(&json!({"rules": [{
        "id": "r1", "name": "jane", "conditions": [{"field": "sender", "operator": "equals", "value": "jane@example.com"}],
        "actions": {"webhook_url": "https://hooks.example/new", "priority": "normal", "stop_processing": false}
    }]}))
    .unwrap();
    let tz = chrono_tz::Europe::Paris;
    let Some(Rerouted::Deliver(planned, _)) = reroute(&text, &docs(default), &rules, NOW, tz)
    else {
        panic!("delivers");
    };
    let id = "0123456789abcdef0123456789abcdef";
    let targets: Vec<&str> = planned
        .deliveries
        .iter()
        .map(|p| p.target_url.as_str())
        .collect();
    assert_eq!(targets, ["https://hooks.example/new", default]);
    assert_eq!(
        planned.deliveries[1].delivery_id,
        delivery_id(id, default),
        "same id for the same target"
    );
    assert_eq!(
        planned.payload.delivery_links[0].r2_url.as_deref(),
        Some("https://media.test/k")
    );
    assert_eq!(planned.payload.email_content, body);

    // The default target was selected; the new rule's target is new to the e-mail.
    let selection = Selection {
        deliveries: vec![SelectedDelivery {
            delivery_id: delivery_id(id, default),
            email_id: id.into(),
            target: "x".into(),
            status: LogStatus::Error,
            detector: None,
            at_ms: NOW,
        }],
        more: false,
        known: [delivery_id(id, default)].into_iter().collect(),
    };
    let sends = reroute_sends(&planned, &selection);
    let statuses: Vec<&str> = sends.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, ["new", "error"]);
    // A target the e-mail went to, not selected, is left alone.
    let mut other = selection.clone();
    other.deliveries[0].delivery_id = "dlv_other".into();
    other
        .known
        .insert(delivery_id(id, "https://hooks.example/new"));
    assert!(reroute_sends(&planned, &other).is_empty());
    let item = reroute_item(id, sends[0].0, sends[0].1);
    assert_eq!(item["target"], "https://hooks.example/new");
    assert_eq!(item["status"], "new");

    let no_links = archived_payload("<p>no link</p>", vec![]);
    match reroute(&no_links, &docs(default), &RoutingRules::default(), NOW, tz) {
        Some(Rerouted::NotSent { decision, reason }) => {
            assert_eq!(decision, "skip");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let mut unset = docs(default);
    unset.webhook.webhook_url = None;
    unset.flags.allow_custom_webhook_without_links = true;
    assert!(matches!(
        reroute(&no_links, &unset, &RoutingRules::default(), NOW, tz),
        Some(Rerouted::NotSent {
            decision: "no_target",
            ..
        })
    ));
    assert!(reroute(
        "not json",
        &docs(default),
        &RoutingRules::default(),
        NOW,
        tz
    )
    .is_none());
}
