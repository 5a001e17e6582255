//! The audit trail: every change made to Facteur (settings and rules documents, replays,
//! target pauses and resumptions, test e-mails, erasures, sign-ins and sign-outs) and every
//! burst of failed credentials, with who, from where and when.
//!
//! A change is one typed [`AuditEvent`]; [`AuditEntry::new`] shapes what is kept. Nothing
//! secret is kept: a changed field is named with short hashes of its values before and after,
//! never the values (a webhook URL's path is a token); an e-mail is named by a short hash
//! ([`email_ref`], the erasure's `subject_hash`), never its id or address; a session by a tag
//! derived from its id ([`session_tag`]), never the id. Entries live in KV under
//! [`AUDIT_PREFIX`], newest first, for [`AUDIT_TTL_SECS`]; no API deletes one, and an erasure
//! never touches them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::analysis::routing::RoutingRules;
use crate::base::auth::CredentialPath;
use crate::base::ids::{newest_first_key, sha256_hex};
use crate::base::time::iso_utc;
use crate::records::erasure::{subject_hash, ErasureKind, Removed};

/// KV prefix of the audit trail.
pub const AUDIT_PREFIX: &str = "audit:";
/// Audit entries are kept 400 days.
pub const AUDIT_TTL_SECS: u64 = 400 * 86_400;
/// Largest entry kept in full as its KV key's metadata (KV allows 1,024 bytes): a larger one
/// keeps its details in the value only.
pub const METADATA_MAX: usize = 1_000;
/// Hex characters of the short hashes (values, e-mails, sessions).
const HASH_CHARS: usize = 12;
/// Names listed at most in one entry (rule ids), and the longest text kept of each.
const MAX_LISTED: usize = 10;
const MAX_TEXT: usize = 80;

/// Every action the audit records, as `action` names it (the API's `?action=` filter).
pub const ACTIONS: [&str; 14] = [
    "config_changed",
    "rules_changed",
    "deliveries_replayed",
    "delivery_replayed",
    "dead_letters_replayed",
    "dead_letter_replayed",
    "target_paused",
    "target_resumed",
    "test_email_sent",
    "erasure",
    "signed_in",
    "signed_out",
    "failed_attempts",
    "gmail_changed",
];

/// Who made a change, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `admin token`, `session ses_1a2b3c4d`, or `guard` (the worker itself, for the
    /// summaries of failed attempts).
    pub who: String,
    /// The client's address (`CF-Connecting-IP`), when a request made the change.
    pub from: Option<String>,
}

impl Actor {
    /// A call with the bearer `ADMIN_TOKEN`.
    pub fn admin_token(from: &str) -> Actor {
        Actor {
            who: "admin token".into(),
            from: Some(from.to_string()),
        }
    }
    /// A call by a console session.
    pub fn session(session_id: &str, from: &str) -> Actor {
        Actor {
            who: format!("session {}", session_tag(session_id)),
            from: Some(from.to_string()),
        }
    }
    /// The worker itself.
    pub fn guard() -> Actor {
        Actor {
            who: "guard".into(),
            from: None,
        }
    }
}

/// The tag the audit names a session by: `ses_` and 8 hex characters of the SHA-256 of its
/// id (the id itself opens the session; its hash does not).
pub fn session_tag(session_id: &str) -> String {
    format!("ses_{}", &sha256_hex(&format!("session:{session_id}"))[..8])
}

/// A short hash of a value, as the audit names it.
pub fn short_hash(text: &str) -> String {
    sha256_hex(text)[..HASH_CHARS].to_string()
}

/// An e-mail as the audit names it: `email:` and the erasure's `subject_hash` of its id, so
/// an entry can be matched with a later erasure, and the id cannot be read back.
pub fn email_ref(email_id: &str) -> String {
    format!("email:{}", short_hash(&format!("email:{email_id}")))
}

/// A dead letter as the audit names it: a delivery's dead letter by its id, an e-mail's
/// (`email_<email_id>`) by [`email_ref`].
pub fn dead_letter_ref(id: &str) -> String {
    match id.strip_prefix("email_") {
        Some(email_id) => email_ref(email_id),
        None => cut(id),
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

/// One field of a document that changed: short hashes of its JSON value before and after
/// (`null`: not stored, the default applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Attempts per credential path, in a burst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathCounts {
    pub admin_bearer: u64,
    pub ingest_bearer: u64,
    pub sign_in: u64,
}

impl PathCounts {
    pub fn add(&mut self, path: CredentialPath) {
        match path {
            CredentialPath::AdminBearer => self.admin_bearer += 1,
            CredentialPath::IngestBearer => self.ingest_bearer += 1,
            CredentialPath::SignIn => self.sign_in += 1,
        }
    }
}

/// A client of a burst, with its attempts (wrong or refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFailures {
    pub client: String,
    pub attempts: u64,
}

/// Every kind of change the audit records: one variant each, its fields the entry's
/// `details`. Adding a kind is a variant here (and its name in [`ACTIONS`]), then one call
/// where the change is made (`ctx.audit(…)` in the worker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "details", rename_all = "snake_case")]
pub enum AuditEvent {
    /// `webhook_config`, `processing_prefs` or `runtime_flags` saved.
    ConfigChanged {
        document: String,
        fields: Vec<FieldChange>,
    },
    /// The routing rules saved: hashes of the whole document before and after, counts, and the
    /// ids of the rules added, removed and changed (at most 10 each).
    RulesChanged {
        before: Option<String>,
        after: String,
        rules_before: usize,
        rules_after: usize,
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
        reordered: bool,
    },
    /// A bulk replay of past deliveries (the filter as given, e-mail ids hashed).
    DeliveriesReplayed {
        filter: Value,
        reroute: bool,
        selected: u64,
        sent: u64,
        refused: u64,
        failed: u64,
    },
    /// One past delivery replayed.
    DeliveryReplayed {
        delivery_id: String,
    },
    /// A bulk replay of dead letters.
    DeadLettersReplayed {
        filter: Value,
        selected: u64,
        sent: u64,
        refused: u64,
        failed: u64,
    },
    /// One dead letter replayed.
    DeadLetterReplayed {
        id: String,
    },
    TargetPaused {
        target_id: String,
        target: String,
    },
    TargetResumed {
        target_id: String,
        target: String,
    },
    /// "Send a test e-mail": the ingest's answer.
    TestEmailSent {
        email_id: String,
        status: String,
    },
    /// An erasure: what it covered, never the address or the id.
    Erasure {
        kind: ErasureKind,
        /// A truncated SHA-256 of the subject (`email:<id>` or `sender:<address>`).
        subject_hash: String,
        emails: u64,
        removed: Removed,
        /// False when a store failed and some of it may remain (run it again).
        complete: bool,
    },
    SignedIn {
        session: String,
    },
    SignedOut {
        session: String,
    },
    /// A burst of failed credentials, summarised (never one entry per guess).
    FailedAttempts {
        from: String,
        to: String,
        failures: u64,
        refused: u64,
        by_path: PathCounts,
        clients: u64,
        top: Vec<ClientFailures>,
        flood: bool,
    },
    /// The Gmail connection changed (`connected`, `disconnected`, …) for an account.
    GmailChanged {
        change: String,
        account: String,
    },
}

impl AuditEvent {
    /// The event of one erasure: counts and the truncated hash of its subject, never the
    /// address or the e-mail id.
    pub fn erasure(
        kind: ErasureKind,
        subject: &str,
        emails: u64,
        removed: Removed,
        complete: bool,
    ) -> AuditEvent {
        AuditEvent::Erasure {
            kind,
            subject_hash: subject_hash(kind, subject),
            emails,
            removed,
            complete,
        }
    }

    /// The `action` name of this event (one of [`ACTIONS`]).
    pub fn action(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    }
}

/// One audit entry as it is stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    /// ISO 8601 UTC.
    pub when: String,
    pub who: String,
    /// The client's address, when a request made the change.
    pub from: Option<String>,
    pub action: String,
    pub details: Value,
    /// True when `details` did not fit the key's metadata (read the value for them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl AuditEntry {
    /// The entry of `event`, made by `actor` at `now_ms`.
    pub fn new(actor: &Actor, event: &AuditEvent, now_ms: i64) -> AuditEntry {
        let v = serde_json::to_value(event).unwrap_or(Value::Null);
        let action = v
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let details = v.get("details").cloned().unwrap_or(Value::Null);
        let when = iso_utc(now_ms);
        let id = format!(
            "aud_{}",
            &sha256_hex(&format!("{when}\n{}\n{action}\n{details}", actor.who))[..16]
        );
        AuditEntry {
            id,
            when,
            who: actor.who.clone(),
            from: actor.from.clone(),
            action,
            details,
            truncated: false,
        }
    }

    /// Its KV key: newest first under [`AUDIT_PREFIX`].
    pub fn key(&self, now_ms: i64) -> String {
        newest_first_key(AUDIT_PREFIX, now_ms, &self.id)
    }

    /// The entry as the key's metadata: whole when it fits [`METADATA_MAX`], else without its
    /// details (`truncated`).
    pub fn metadata(&self) -> String {
        let whole = serde_json::to_string(self).unwrap_or_default();
        if whole.len() <= METADATA_MAX {
            return whole;
        }
        let short = AuditEntry {
            details: Value::Null,
            truncated: true,
            ..self.clone()
        };
        serde_json::to_string(&short).unwrap_or_default()
    }

    /// Reads a stored entry: this shape, or the erasure entries written before the audit was
    /// generalised (`{"id","who","when","what"}`), shown as `erasure` entries.
    pub fn read(v: &Value) -> Option<AuditEntry> {
        if v.get("action").is_some() {
            return serde_json::from_value(v.clone()).ok();
        }
        let what = v.get("what")?;
        Some(AuditEntry {
            id: v.get("id")?.as_str()?.to_string(),
            when: v.get("when")?.as_str()?.to_string(),
            who: v.get("who")?.as_str()?.to_string(),
            from: None,
            action: "erasure".into(),
            details: what.clone(),
            truncated: false,
        })
    }
}

fn hash_value(v: Option<&Value>) -> Option<String> {
    v.filter(|v| !v.is_null())
        .map(|v| short_hash(&v.to_string()))
}

/// The fields of a stored document that changed between `before` and `after` (`_updated_at`
/// aside), each with short hashes of its values.
pub fn field_changes(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<FieldChange> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|k| k.as_str() != "_updated_at")
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: hash_value(before.get(k)),
            after: hash_value(after.get(k)),
        })
        .collect()
}

fn rules_hash(rules: &RoutingRules) -> String {
    let v = serde_json::to_value(&rules.rules).unwrap_or(Value::Null);
    short_hash(&v.to_string())
}

/// The change from `before` (`None`: never saved) to `after`, by rule id.
pub fn rules_change(before: Option<&RoutingRules>, after: &RoutingRules) -> AuditEvent {
    let empty = RoutingRules::default();
    let old = before.unwrap_or(&empty);
    let ids = |r: &RoutingRules| r.rules.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
    let (old_ids, new_ids) = (ids(old), ids(after));
    let list =
        |v: Vec<String>| -> Vec<String> { v.iter().take(MAX_LISTED).map(|s| cut(s)).collect() };
    let added = new_ids
        .iter()
        .filter(|id| !old_ids.contains(id))
        .cloned()
        .collect();
    let removed = old_ids
        .iter()
        .filter(|id| !new_ids.contains(id))
        .cloned()
        .collect();
    let changed = after
        .rules
        .iter()
        .filter(|r| old.rules.iter().any(|o| o.id == r.id && o != *r))
        .map(|r| r.id.clone())
        .collect();
    let kept_old: Vec<&String> = old_ids.iter().filter(|id| new_ids.contains(id)).collect();
    let kept_new: Vec<&String> = new_ids.iter().filter(|id| old_ids.contains(id)).collect();
    AuditEvent::RulesChanged {
        before: before.map(rules_hash),
        after: rules_hash(after),
        rules_before: old.rules.len(),
        rules_after: after.rules.len(),
        added: list(added),
        removed: list(removed),
        changed: list(changed),
        reordered: kept_old != kept_new,
    }
}

/// A replay's filter as the audit keeps it: the fields as given, an `email_id` as
/// [`email_ref`], `ids` as their count, texts cut to 80 characters.
pub fn filter_view(filter: &Value) -> Value {
    let Value::Object(map) = filter else {
        return json!({});
    };
    let mut out = Map::new();
    for (k, v) in map.iter().take(MAX_LISTED) {
        let shown = match (k.as_str(), v) {
            (_, Value::Null) => continue,
            ("email_id", Value::String(id)) => json!(email_ref(&id.trim().to_lowercase())),
            ("ids", Value::Array(ids)) => json!({"count": ids.len()}),
            (_, Value::String(s)) => json!(cut(s)),
            (_, Value::Bool(_) | Value::Number(_)) => v.clone(),
            _ => json!("…"),
        };
        out.insert(cut(k), shown);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::routing::validate_rules;

    const NOW: i64 = 1_767_225_600_000;

    #[test]
    fn an_entry_names_the_actor_the_action_and_the_time() {
        let actor = Actor::session("0123456789abcdef0123456789abcdef", "203.0.113.7");
        let event = AuditEvent::TargetPaused {
            target_id: "tgt_1".into(),
            target: "https://hooks.example/***".into(),
        };
        let e = AuditEntry::new(&actor, &event, NOW);
        assert_eq!(e.action, "target_paused");
        assert_eq!(event.action(), "target_paused");
        assert!(ACTIONS.contains(&e.action.as_str()));
        assert_eq!(e.when, "2026-01-01T00:00:00.000Z");
        assert!(e.who.starts_with("session ses_") && e.who.len() == "session ses_".len() + 8);
        assert!(
            !e.who.contains("01234567"),
            "the tag is not a prefix of the id itself"
        );
        assert_eq!(e.from.as_deref(), Some("203.0.113.7"));
        assert_eq!(e.details["target_id"], "tgt_1");
        let later = AuditEntry::new(&actor, &event, NOW + 1);
        assert!(later.key(NOW + 1) < e.key(NOW), "newest first");
        assert!(e.key(NOW).starts_with(AUDIT_PREFIX));
        assert_ne!(e.id, later.id);
        let v: Value = serde_json::from_str(&e.metadata()).unwrap();
        assert_eq!(AuditEntry::read(&v), Some(e));
        assert_eq!(Actor::guard().from, None);
        assert_eq!(Actor::admin_token("::1").who, "admin token");
    }

    #[test]
    fn every_event_has_its_action_listed() {
        let events = [
            AuditEvent::ConfigChanged {
                document: "d".into(),
                fields: vec![],
            },
            rules_change(None, &RoutingRules::default()),
            AuditEvent::DeliveriesReplayed {
                filter: json!({}),
                reroute: false,
                selected: 0,
                sent: 0,
                refused: 0,
                failed: 0,
            },
            AuditEvent::DeliveryReplayed {
                delivery_id: "d".into(),
            },
            AuditEvent::DeadLettersReplayed {
                filter: json!({}),
                selected: 0,
                sent: 0,
                refused: 0,
                failed: 0,
            },
            AuditEvent::DeadLetterReplayed { id: "d".into() },
            AuditEvent::TargetPaused {
                target_id: "t".into(),
                target: "t".into(),
            },
            AuditEvent::TargetResumed {
                target_id: "t".into(),
                target: "t".into(),
            },
            AuditEvent::TestEmailSent {
                email_id: "e".into(),
                status: "queued".into(),
            },
            AuditEvent::Erasure {
                kind: ErasureKind::Email,
                subject_hash: "h".into(),
                emails: 1,
                removed: Removed::default(),
                complete: true,
            },
            AuditEvent::SignedIn {
                session: "s".into(),
            },
            AuditEvent::SignedOut {
                session: "s".into(),
            },
            AuditEvent::FailedAttempts {
                from: "a".into(),
                to: "b".into(),
                failures: 0,
                refused: 0,
                by_path: PathCounts::default(),
                clients: 0,
                top: vec![],
                flood: false,
            },
            AuditEvent::GmailChanged {
                change: "connected".into(),
                account: "a".into(),
            },
        ];
        let names: Vec<String> = events.iter().map(AuditEvent::action).collect();
        assert_eq!(names, ACTIONS.map(String::from).to_vec());
    }

    #[test]
    fn changed_fields_are_named_with_hashes_never_values() {
        let before = json!({"webhook_url": "https://hook.eu2.make.com/s3cret", "webhook_time_start": "09:00", "_updated_at": "x"});
        let after = json!({"webhook_url": "https://hook.eu2.make.com/0ther", "webhook_time_start": "09:00", "webhook_sending_enabled": false, "_updated_at": "y"});
        let changes = field_changes(before.as_object().unwrap(), after.as_object().unwrap());
        let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["webhook_sending_enabled", "webhook_url"]);
        assert_eq!(changes[0].before, None, "not stored before");
        assert_eq!(changes[0].after.as_deref(), Some(&short_hash("false")[..]));
        let text = serde_json::to_string(&changes).unwrap();
        assert!(
            !text.contains("s3cret") && !text.contains("0ther"),
            "{text}"
        );
        assert_eq!(changes[1].before.as_ref().unwrap().len(), 12);
    }

    #[test]
    fn rules_changes_by_id() {
        let rule = |id: &str, value: &str| {
            json!({"id": id, "name": id, "conditions": [{"field": "subject", "operator": "contains", "value": value}],
                   "actions": {"webhook_url": "https://hooks.example/secret"}})
        };
        let before =
            validate_rules(&json!({"rules": [rule("a", "x"), rule("b", "x"), rule("c", "x")]}))
                .unwrap();
        let after =
            validate_rules(&json!({"rules": [rule("c", "x"), rule("b", "y"), rule("d", "x")]}))
                .unwrap();
        let AuditEvent::RulesChanged {
            before: b,
            after: a,
            rules_before,
            rules_after,
            added,
            removed,
            changed,
            reordered,
        } = rules_change(Some(&before), &after)
        else {
            panic!()
        };
        assert_ne!(b.unwrap(), a);
        assert_eq!((rules_before, rules_after), (3, 3));
        assert_eq!(
            (added, removed, changed),
            (
                vec!["d".to_string()],
                vec!["a".to_string()],
                vec!["b".to_string()]
            )
        );
        assert!(reordered, "b and c swapped");
        let same = rules_change(Some(&before), &before);
        let text = serde_json::to_string(&same).unwrap();
        assert!(
            text.contains("\"reordered\":false") && !text.contains("secret"),
            "{text}"
        );
    }

    #[test]
    fn references_and_filters_keep_no_email_id() {
        let id = "ef626f4a3197550e73b6e5a1b3cdc39e";
        let r = email_ref(id);
        assert_eq!(
            r,
            format!("email:{}", &sha256_hex(&format!("email:{id}"))[..12])
        );
        assert_eq!(dead_letter_ref(&format!("email_{id}")), r);
        assert_eq!(dead_letter_ref("dlv_abc"), "dlv_abc");
        let f = filter_view(
            &json!({"email_id": id.to_uppercase(), "status": "error", "ids": ["a", "b"], "limit": 5, "target": null, "x": {"y": 1}}),
        );
        assert_eq!(f["email_id"], r);
        assert_eq!(f["ids"]["count"], 2);
        assert_eq!(f["limit"], 5);
        assert!(f.get("target").is_none());
        assert_eq!(f["x"], "…");
        assert!(!f.to_string().contains(id));
    }

    #[test]
    fn large_entries_keep_their_details_out_of_the_metadata() {
        let ids: Vec<String> = (0..10).map(|i| format!("{i}{}", "r".repeat(79))).collect();
        let event = AuditEvent::RulesChanged {
            before: None,
            after: "h".into(),
            rules_before: 0,
            rules_after: 10,
            added: ids.clone(),
            removed: vec![],
            changed: ids,
            reordered: false,
        };
        let e = AuditEntry::new(&Actor::admin_token("203.0.113.7"), &event, NOW);
        let meta: Value = serde_json::from_str(&e.metadata()).unwrap();
        assert!(e.metadata().len() <= METADATA_MAX);
        assert_eq!(meta["truncated"], true);
        assert_eq!(meta["details"], Value::Null);
        assert_eq!(meta["action"], "rules_changed");
    }

    #[test]
    fn erasure_entries_written_before_are_read_as_erasures() {
        let old = json!({"id": "aud_1", "who": "console session", "when": "2026-01-01T00:00:00.000Z",
                         "what": {"kind": "email", "subject_hash": "abc", "emails": 1, "removed": {}, "complete": true}});
        let e = AuditEntry::read(&old).unwrap();
        assert_eq!(
            (e.action.as_str(), e.who.as_str()),
            ("erasure", "console session")
        );
        assert_eq!(e.details["subject_hash"], "abc");
        assert_eq!(AuditEntry::read(&json!({"x": 1})), None);
    }
}
