use serde_json::json;

use super::*;
use crate::analysis::offload::object_key;
use crate::records::archive::sender_key;

#[test]
fn subjects_are_checked() {
    let id = "EF626F4A3197550E73B6E5A1B3CDC39E";
    assert_eq!(parse_email_id(id).unwrap(), id.to_lowercase());
    for bad in ["", "abc", "zz626f4a3197550e73b6e5a1b3cdc39e", "../../x"] {
        let e = parse_email_id(bad).unwrap_err();
        assert_eq!(
            (e.status(), e.message.contains("email_id")),
            (400, true),
            "{bad}"
        );
    }
    assert_eq!(
        parse_sender(" Jane <Jane+Tag@Example.COM> ").unwrap(),
        "jane+tag@example.com"
    );
    assert!(parse_sender("  ").unwrap_err().message.contains("address"));
    assert!(parse_sender(&"a".repeat(321)).is_err());
    let (k, other) = (json!("k"), json!("other"));
    assert_eq!(
        email_of_sender("archive:email:abc", Some(&k), "k"),
        Some("abc")
    );
    assert_eq!(
        email_of_sender("archive:email:abc", Some(&other), "k"),
        None
    );
    assert_eq!(email_of_sender("archive:email:abc", None, "k"), None);
    assert_eq!(email_of_sender("archive:email:", Some(&k), "k"), None);
    assert_eq!(email_of_sender("archive:dlv_1", Some(&k), "k"), None);
}

fn archive(email_id: &str, deliveries: &[&str]) -> EmailArchive {
    EmailArchive {
        email_id: email_id.into(),
        sender_key: sender_key("jane@example.com"),
        delivery_ids: deliveries.iter().map(|d| d.to_string()).collect(),
        target_urls: deliveries.iter().map(|d| format!("https://{d}")).collect(),
        body_key: format!("body:{email_id}"),
        created_at_ms: 0,
    }
}

#[test]
fn every_key_of_the_e_mails_is_named() {
    let found = Found {
        email_ids: vec!["e1".into(), "e2".into()],
        archives: vec![archive("e1", &["dlv_a", "dlv_b"])],
        log_delivery_ids: vec!["dlv_b".into(), "dlv_c".into()],
    };
    assert_eq!(found.delivery_ids(), ["dlv_a", "dlv_b", "dlv_c"]);
    assert_eq!(
        found.delivery_archive_keys(),
        ["archive:dlv_a", "archive:dlv_b", "archive:dlv_c"]
    );
    let keys = found.kv_keys(&["body:x".into(), "body:y".into(), "body:x".into()]);
    let of = |what: Counted| -> Vec<&str> {
        keys.iter()
            .filter(|(_, c)| *c == what)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    assert_eq!(
        of(Counted::Archives),
        [
            "archive:dlv_a",
            "archive:dlv_b",
            "archive:dlv_c",
            "archive:email:e1",
            "archive:email:e2"
        ]
    );
    assert_eq!(
        of(Counted::DeadLetters),
        [
            "dead:dlv_a",
            "dead:dlv_b",
            "dead:dlv_c",
            "dead:email_e1",
            "dead:email_e2"
        ]
    );
    assert_eq!(of(Counted::Bodies), ["body:x", "body:y"], "each body once");
    assert_eq!(of(Counted::Spilled), ["blob:email:e1", "blob:email:e2"]);
    let mut removed = Removed::default();
    for (_, what) in &keys {
        removed.add(*what);
    }
    assert_eq!(
        (
            removed.archives,
            removed.dead_letters,
            removed.bodies,
            removed.spilled,
        ),
        (5, 5, 2, 2)
    );
}

#[test]
fn links_name_their_r2_objects_and_pairs_as_the_offload_did() {
    let payload = json!({"delivery_links": [
        {"provider": "dropbox", "raw_url": "https://www.dropbox.com/s/a/f.zip?dl=0",
         "direct_url": "https://www.dropbox.com/s/a/f.zip?dl=1", "r2_url": "https://m/x"},
        {"provider": "fromsmash", "raw_url": "https://fromsmash.com/T", "direct_url": "https://fromsmash.com/T"},
    ]})
    .to_string();
    let (objects, pairs) = link_keys(&payload);
    let source = "https://www.dropbox.com/s/a/f.zip?dl=1";
    assert_eq!(objects[0], object_key("dropbox", source));
    assert!(objects[0].ends_with("/f.zip"));
    assert_eq!(pairs[0], link_pair_key(source));
    assert_eq!(
        objects[1],
        object_key("fromsmash", "https://fromsmash.com/T")
    );
    assert_eq!(pairs.len(), 2);
    assert_eq!(link_keys("{}"), (vec![], vec![]));
    assert_eq!(link_keys("not json"), (vec![], vec![]));
}

fn entry(delivery: Option<&str>, email: &str, status: LogStatus, ms: i64) -> LogEntry {
    let e = LogEntry::about_email("id".into(), email, status, "r", ms * 1000);
    match delivery {
        Some(d) => e.for_delivery("https://x", d, None, 0, 1),
        None => e,
    }
}

#[test]
fn work_still_under_way_is_reported() {
    // In any order: the newest entry of each delivery (or e-mail) decides.
    let entries = vec![
        entry(Some("dlv_1"), "e1", LogStatus::Retrying, 1),
        entry(Some("dlv_1"), "e1", LogStatus::Success, 2),
        entry(Some("dlv_2"), "e2", LogStatus::Retrying, 3),
        entry(None, "e3", LogStatus::Held, 4),
        entry(None, "e4", LogStatus::Skipped, 5),
        entry(None, "e4", LogStatus::Held, 1),
        entry(Some("dlv_5"), "e2", LogStatus::Retrying, 6),
    ];
    assert_eq!(in_flight(&entries), ["e2", "e3"]);
    assert!(in_flight(&entries[..2]).is_empty());
    assert_eq!(in_flight(&entries[..1]), ["e1"]);
}

#[test]
fn the_audit_keeps_counts_and_a_truncated_hash_only() {
    use crate::records::audit::{Actor, AuditEntry, AuditEvent};
    let removed = Removed {
        log_entries: 3,
        archives: 2,
        ..Default::default()
    };
    let now = 1_767_225_600_000;
    let event = AuditEvent::erasure(ErasureKind::Sender, "jane@example.com", 1, removed, true);
    let a = AuditEntry::new(&Actor::admin_token("203.0.113.7"), &event, now);
    let text = serde_json::to_string(&a).unwrap();
    assert!(
        !text.contains("jane") && !text.contains("example.com"),
        "{text}"
    );
    assert_eq!(
        a.details["subject_hash"],
        subject_hash(ErasureKind::Sender, "jane@example.com")
    );
    assert_ne!(
        subject_hash(ErasureKind::Sender, "jane@example.com"),
        subject_hash(ErasureKind::Email, "jane@example.com")
    );
    assert_eq!(subject_hash(ErasureKind::Email, "x").len(), 12);
    assert_eq!(a.when, "2026-01-01T00:00:00.000Z");
    assert_eq!(a.action, "erasure");
    assert_eq!(a.details["kind"], "sender");
    assert_eq!(a.details["removed"]["log_entries"], 3);
    assert_eq!(a.who, "admin token");
}
