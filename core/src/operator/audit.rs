//! The audit trail as the API and the console's Audit page read it: `GET /api/audit` with its
//! filters (action, who, client address, period), applied to entries listed newest first.

use crate::base::query::{int_param, str_param};
use crate::base::time::{parse_iso, DAY_MS};
use crate::error::ApiError;
use crate::records::audit::{AuditEntry, ACTIONS};

/// Entries one call answers at most.
pub const MAX_AUDIT_LIMIT: u64 = 1_000;
/// Most entries one call looks at (ten listing pages): the audit of 400 days of an operator's
/// actions holds far fewer.
pub const MAX_AUDIT_SCAN: usize = 10_000;
/// Longest text filter kept.
const MAX_FILTER_CHARS: usize = 100;

/// `GET /api/audit?limit=&action=&who=&from=&days=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: usize,
    /// One of [`ACTIONS`].
    pub action: Option<String>,
    /// Text `who` contains (`token`, `session`, a session tag, `guard`), any case.
    pub who: Option<String>,
    /// Text the client's address contains.
    pub from: Option<String>,
    /// Only the last `days` days.
    pub days: Option<u64>,
}

impl AuditQuery {
    /// Reads the query string; a bad value is a 400 naming the parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<AuditQuery, ApiError> {
        let text = |name: &str| {
            str_param(pairs, name)
                .map(|v| v.trim().chars().take(MAX_FILTER_CHARS).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        let action = text("action");
        if let Some(a) = &action {
            if !ACTIONS.contains(&a.as_str()) {
                return Err(ApiError::invalid_query(
                    "action",
                    format!("one of {}", ACTIONS.join(", ")),
                ));
            }
        }
        let days = match str_param(pairs, "days") {
            None | Some("") => None,
            Some(_) => Some(int_param(pairs, "days", 0, 1, 400)?),
        };
        Ok(AuditQuery {
            limit: int_param(pairs, "limit", 100, 1, MAX_AUDIT_LIMIT)? as usize,
            action,
            who: text("who").map(|w| w.to_lowercase()),
            from: text("from").map(|f| f.to_lowercase()),
            days,
        })
    }

    /// True when `entry` passes every filter given, at `now_ms`.
    pub fn matches(&self, entry: &AuditEntry, now_ms: i64) -> bool {
        let contains = |hay: &str, needle: &Option<String>| {
            needle
                .as_ref()
                .is_none_or(|n| hay.to_lowercase().contains(n))
        };
        self.action.as_ref().is_none_or(|a| *a == entry.action)
            && contains(&entry.who, &self.who)
            && contains(entry.from.as_deref().unwrap_or(""), &self.from)
            && self.days.is_none_or(|d| {
                parse_iso(&entry.when).is_some_and(|t| t >= now_ms - d as i64 * DAY_MS)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::query::query_pairs;
    use crate::records::audit::{Actor, AuditEvent};

    const NOW: i64 = 1_767_225_600_000;

    fn entry(actor: &Actor, event: AuditEvent, at: i64) -> AuditEntry {
        AuditEntry::new(actor, &event, at)
    }

    #[test]
    fn filters_by_action_who_client_and_period() {
        let pause = AuditEvent::TargetPaused {
            target_id: "t".into(),
            target: "https://x/***".into(),
        };
        let signed_in = AuditEvent::SignedIn {
            session: "ses_1".into(),
        };
        let by_token = entry(&Actor::admin_token("203.0.113.7"), pause.clone(), NOW);
        let by_session = entry(
            &Actor::session("0123456789abcdef0123456789abcdef", "198.51.100.4"),
            signed_in,
            NOW - 3 * DAY_MS,
        );
        let q = |s: &str| AuditQuery::parse(&query_pairs(s)).unwrap();
        #[rustfmt::skip]
        let table = [
            ("", true, true),
            ("action=target_paused", true, false),
            ("action=signed_in", false, true),
            ("who=TOKEN", true, false),
            ("who=session", false, true),
            (&format!("who={}", &by_session.who[8..]), false, true),
            ("from=203.0.113", true, false),
            ("days=1", true, false),
            ("days=7", true, true),
        ];
        for (query, token, session) in table {
            let query = q(query);
            assert_eq!(query.matches(&by_token, NOW), token, "{query:?}");
            assert_eq!(query.matches(&by_session, NOW), session, "{query:?}");
        }
        assert_eq!(q("").limit, 100);
    }

    #[test]
    fn bad_filters_name_their_parameter() {
        for (query, param) in [
            ("action=delete_everything", "action"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("days=0", "days"),
            ("days=x", "days"),
        ] {
            let e = AuditQuery::parse(&query_pairs(query)).unwrap_err();
            assert_eq!(e.status(), 400, "{query}");
            assert!(e.message.contains(param), "{query}: {}", e.message);
        }
    }
}
