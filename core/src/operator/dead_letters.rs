//! Dead letters as the admin API shows and selects them: a summary without secrets, and the
//! filter of the list and of the bulk replay (`POST /api/dead_letters/replay`).

use serde_json::{json, Map, Value};

use crate::base::json::type_name;
use crate::base::mask::{mask_url, target_label};
use crate::base::query::str_param;
use crate::base::time::iso_utc;
use crate::error::ApiError;
use crate::jobs::dead_letter::DeadJob;
use crate::jobs::dead_letter::DeadLetter;

/// The kinds of dead letter.
pub const KINDS: [&str; 3] = ["delivery", "email", "unreadable"];

/// The kind of a dead letter: `delivery`, `email` or `unreadable`.
pub fn kind(dead: &DeadLetter) -> &'static str {
    match dead.job {
        DeadJob::Delivery(_) => KINDS[0],
        DeadJob::Process(_) => KINDS[1],
        DeadJob::Unreadable { .. } => KINDS[2],
    }
}

/// What the API shows of a dead letter: never the target unmasked, never the payload.
pub fn summary(dead: &DeadLetter) -> Value {
    let mut v = json!({
        "id": dead.job.id(),
        "kind": kind(dead),
        "reason": dead.reason,
        "error": dead.error,
        "dead_at": iso_utc(dead.dead_at_ms),
    });
    let extra = match &dead.job {
        DeadJob::Delivery(j) => json!({
            "email_id": j.email_id, "delivery_id": j.delivery_id, "detector": j.detector,
            "webhook_url": mask_url(&j.target_url), "target_url": target_label(&j.target_url),
            "attempts": j.attempt,
        }),
        DeadJob::Process(j) => json!({"email_id": j.email_id}),
        DeadJob::Unreadable { .. } => json!({}),
    };
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// Which dead letters a list or a bulk replay takes. Every given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadFilter {
    /// `delivery`, `email` or `unreadable`.
    pub kind: Option<String>,
    /// The exact reason (`not_retryable`, `retries_exhausted`, …).
    pub reason: Option<String>,
    pub email_id: Option<String>,
    /// Text the masked target contains (case-insensitive).
    pub target: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<String>>,
}

const FILTER_KEYS: [&str; 5] = ["kind", "reason", "email_id", "target", "ids"];

impl DeadFilter {
    /// The filter of `GET /api/dead_letters?kind=&reason=&email_id=&target=`.
    pub fn from_query(pairs: &[(String, String)]) -> Result<DeadFilter, ApiError> {
        let mut map = Map::new();
        for key in &FILTER_KEYS[..4] {
            if let Some(v) = str_param(pairs, key) {
                map.insert((*key).into(), Value::String(v.to_string()));
            }
        }
        // Every value is a string here: only `kind` can be refused.
        Self::from_json(&Value::Object(map)).map_err(|_| {
            ApiError::invalid_query("kind", format!("must be one of {}", KINDS.join(", ")))
        })
    }

    /// The filter of a bulk replay: `{"kind"?, "reason"?, "email_id"?, "target"?, "ids"?}`
    /// (a missing body or `{}` takes every dead letter).
    pub fn from_json(v: &Value) -> Result<DeadFilter, ApiError> {
        let obj = match v {
            Value::Object(o) => o,
            other => {
                return Err(ApiError::invalid_field(
                    "filter",
                    format!("expected an object, got {}", type_name(other)),
                ))
            }
        };
        let bad = |k: &str, problem: String| ApiError::invalid_field(k, problem).at(k);
        let mut f = DeadFilter::default();
        for (k, value) in obj {
            if value.is_null() {
                continue;
            }
            if k == "ids" {
                let ids = value
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|i| i.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| bad(k, "expected an array of ids".into()))?;
                f.ids = Some(ids);
                continue;
            }
            let text = value
                .as_str()
                .map(str::trim)
                .ok_or_else(|| bad(k, format!("expected a string, got {}", type_name(value))))?
                .to_string();
            let text = Some(text).filter(|t| !t.is_empty());
            match k.as_str() {
                "kind" => {
                    if let Some(kind) = &text {
                        if !KINDS.contains(&kind.as_str()) {
                            return Err(bad(k, format!("must be one of {}", KINDS.join(", "))));
                        }
                    }
                    f.kind = text;
                }
                "reason" => f.reason = text,
                "email_id" => f.email_id = text,
                "target" => f.target = text.map(|t| t.to_lowercase()),
                _ => {
                    return Err(bad(
                        k,
                        format!("unknown filter (known: {})", FILTER_KEYS.join(", ")),
                    ))
                }
            }
        }
        Ok(f)
    }

    /// True when the dead letter passes every criterion.
    pub fn matches(&self, dead: &DeadLetter) -> bool {
        let (email_id, target) = match &dead.job {
            DeadJob::Delivery(j) => (
                Some(j.email_id.as_str()),
                format!(
                    "{} {}",
                    mask_url(&j.target_url),
                    target_label(&j.target_url)
                ),
            ),
            DeadJob::Process(j) => (Some(j.email_id.as_str()), String::new()),
            DeadJob::Unreadable { .. } => (None, String::new()),
        };
        self.kind.as_deref().is_none_or(|k| k == kind(dead))
            && self.reason.as_deref().is_none_or(|r| r == dead.reason)
            && self
                .email_id
                .as_deref()
                .is_none_or(|id| Some(id) == email_id)
            && self
                .target
                .as_deref()
                .is_none_or(|t| target.to_lowercase().contains(t))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&dead.job.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::query::query_pairs;
    use crate::jobs::blob::Blob;
    use crate::jobs::delivery::DeliveryJob;
    use crate::jobs::process::ProcessJob;

    fn delivery(id: &str, email: &str, url: &str, reason: &str) -> DeadLetter {
        DeadLetter {
            reason: reason.into(),
            error: Some("HTTP 404".into()),
            dead_at_ms: 0,
            job: DeadJob::Delivery(DeliveryJob {
                attempt: 4,
                ..DeliveryJob::new(id, email, url, Blob::Inline { data: "{}".into() }, 0)
            }),
        }
    }

    fn letters() -> Vec<DeadLetter> {
        vec![
            delivery(
                "dlv_a",
                "e1",
                "https://hook.eu2.make.com/s3cret-path-token",
                "not_retryable",
            ),
            delivery(
                "dlv_b",
                "e2",
                "https://hooks.example/x",
                "retries_exhausted",
            ),
            DeadLetter {
                reason: "no_webhook_url".into(),
                error: None,
                dead_at_ms: 0,
                job: DeadJob::Process(ProcessJob::accepted(
                    "e3",
                    Blob::Inline { data: "{}".into() },
                    0,
                )),
            },
            DeadLetter::unreadable("garbage".into(), 0),
        ]
    }

    fn ids(filter: &Value) -> Vec<String> {
        let f = DeadFilter::from_json(filter).unwrap();
        letters()
            .iter()
            .filter(|d| f.matches(d))
            .map(|d| d.job.id())
            .collect()
    }

    #[test]
    fn filters_select_by_every_criterion() {
        assert!(
            DeadFilter::from_json(&Value::Null).is_err(),
            "a filter is asked for: {{}} selects all"
        );
        #[rustfmt::skip]
        let table: [(Value, &[&str]); 8] = [
            (json!({}), &["dlv_a", "dlv_b", "email_e3", "raw_"]),
            (json!({"kind": "delivery"}), &["dlv_a", "dlv_b"]),
            (json!({"kind": "email"}), &["email_e3"]),
            (json!({"reason": "not_retryable"}), &["dlv_a"]),
            (json!({"email_id": "e2"}), &["dlv_b"]),
            (json!({"target": "MAKE.com"}), &["dlv_a"]),
            (json!({"ids": ["dlv_b", "email_e3"], "kind": "delivery"}), &["dlv_b"]),
            (json!({"reason": "", "target": null}), &["dlv_a", "dlv_b", "email_e3", "raw_"]),
        ];
        for (filter, want) in table {
            let got = ids(&filter);
            assert_eq!(got.len(), want.len(), "{filter}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.starts_with(w), "{filter}: {got:?}");
            }
        }
    }

    #[test]
    fn bad_filters_name_the_field() {
        #[rustfmt::skip]
        let table = [
            (json!({"kind": "parcel"}), "kind"),
            (json!({"reason": 3}), "reason"),
            (json!({"ids": "dlv_a"}), "ids"),
            (json!({"ids": [1]}), "ids"),
            (json!({"colour": "red"}), "colour"),
        ];
        for (filter, field) in table {
            let e = DeadFilter::from_json(&filter).unwrap_err();
            assert_eq!(
                (e.status(), e.field.as_deref()),
                (400, Some(field)),
                "{filter}"
            );
        }
        assert!(DeadFilter::from_json(&json!([1])).is_err());
        let q = DeadFilter::from_query(&query_pairs("kind=delivery&target=hooks")).unwrap();
        assert_eq!(
            (q.kind.as_deref(), q.target.as_deref()),
            (Some("delivery"), Some("hooks"))
        );
        let e = DeadFilter::from_query(&query_pairs("kind=x")).unwrap_err();
        assert!(e.message.contains("'kind'"), "{}", e.message);
    }

    #[test]
    fn summaries_mask_the_target() {
        let s = summary(&letters()[0]);
        assert_eq!(s["kind"], "delivery");
        assert_eq!(s["webhook_url"], "https://hook.eu2.make.com/***");
        assert!(!s.to_string().contains("s3cret-path"), "{s}");
        assert_eq!(summary(&letters()[2])["email_id"], "e3");
        assert_eq!(summary(&letters()[3])["kind"], "unreadable");
    }
}
