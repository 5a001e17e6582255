//! Bulk replay of past deliveries (`POST /api/deliveries/replay`): the request and its filter,
//! the selection of deliveries from the delivery log, and the re-routing of an archived e-mail
//! with the current rules (`"reroute": true`).
//!
//! A delivery's status, time, target and detector are those of its newest log entry: "replay
//! what failed this morning" selects deliveries whose last outcome was a failure this morning,
//! and a delivery replayed with success since is no longer selected by `status: error`.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::analysis::email::EmailRecord;
use crate::analysis::payload::DeliveryLink;
use crate::analysis::pipeline::{deliveries, plan, Plan, PlannedDeliveries, PlannedDelivery};
use crate::analysis::routing::RoutingRules;
use crate::analysis::routing::RuleRef;
use crate::base::json::type_name;
use crate::base::mask::target_label;
use crate::base::time::{iso_utc, parse_iso, Zone, DAY_MS};
use crate::config::Documents;
use crate::error::ApiError;
use crate::store::log::{LogEntry, LogQuery, LogStatus};

/// Deliveries selected when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Most deliveries one call replays: each is a store read and part of a queue batch, within a
/// call's budget of subrequests.
pub const MAX_LIMIT: usize = 500;
/// Most deliveries one re-routing call takes: each e-mail is read, planned, stored and sent.
pub const MAX_REROUTE_LIMIT: usize = 50;
/// Most log entries a selection reads (both stores merged).
pub const MAX_LOG_SCAN: usize = 20_000;
/// The statuses a delivery can have in the log.
pub const DELIVERY_STATUSES: [LogStatus; 3] =
    [LogStatus::Success, LogStatus::Error, LogStatus::Retrying];

const FILTER_KEYS: [&str; 8] = [
    "from", "to", "target", "status", "detector", "email_id", "limit", "reroute",
];

/// Which deliveries a bulk replay takes. Every given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Newest entry at or after this instant (unix ms).
    pub from_ms: Option<i64>,
    /// Newest entry strictly before this instant.
    pub to_ms: Option<i64>,
    /// Text the masked target contains (lowercase; compared case-insensitively).
    pub target: Option<String>,
    pub status: Option<LogStatus>,
    pub detector: Option<String>,
    pub email_id: Option<String>,
}

/// A validated bulk-replay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    pub filter: ReplayFilter,
    pub limit: usize,
    /// Plan each selected e-mail again with the current rules and settings instead of sending
    /// the archived payload.
    pub reroute: bool,
}

fn bad(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_field(field, problem)
}

fn instant(field: &str, v: &Value) -> Result<i64, ApiError> {
    v.as_str().and_then(parse_iso).ok_or_else(|| {
        bad(
            field,
            "expected an RFC 3339 instant such as 2026-05-04T09:30:00+02:00",
        )
    })
}

impl ReplayRequest {
    /// Reads the JSON body (`null` or `{}`: every delivery, up to the default limit).
    pub fn from_json(v: &Value) -> Result<ReplayRequest, ApiError> {
        let obj = match v {
            Value::Object(o) => o,
            other => {
                return Err(bad(
                    "body",
                    format!("expected an object, got {}", type_name(other)),
                ))
            }
        };
        let mut f = ReplayFilter::default();
        let mut limit = None;
        let mut reroute = false;
        for (k, value) in obj {
            if value.is_null() {
                continue;
            }
            let text = || -> Result<Option<String>, ApiError> {
                let s = value.as_str().ok_or_else(|| {
                    bad(k, format!("expected a string, got {}", type_name(value)))
                })?;
                Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
            };
            match k.as_str() {
                "from" => f.from_ms = Some(instant(k, value)?),
                "to" => f.to_ms = Some(instant(k, value)?),
                "target" => f.target = text()?.map(|t| t.to_lowercase()),
                "detector" => f.detector = text()?,
                "email_id" => f.email_id = text()?.map(|t| t.to_lowercase()),
                "status" => {
                    let names: Vec<&str> = DELIVERY_STATUSES.iter().map(|s| s.as_str()).collect();
                    f.status = match text()? {
                        None => None,
                        Some(s) => Some(
                            LogStatus::parse(&s)
                                .filter(|st| DELIVERY_STATUSES.contains(st))
                                .ok_or_else(|| {
                                    bad(k, format!("a delivery is one of {}", names.join(", ")))
                                })?,
                        ),
                    };
                }
                "limit" => {
                    limit = Some(
                        value
                            .as_u64()
                            .ok_or_else(|| bad(k, "expected an integer"))?,
                    )
                }
                "reroute" => {
                    reroute = value
                        .as_bool()
                        .ok_or_else(|| bad(k, "expected true or false"))?
                }
                _ => {
                    return Err(bad(
                        k,
                        format!("unknown field (known: {})", FILTER_KEYS.join(", ")),
                    ))
                }
            }
        }
        if let (Some(from), Some(to)) = (f.from_ms, f.to_ms) {
            if from >= to {
                return Err(bad("to", "must be after from"));
            }
        }
        let max = if reroute {
            MAX_REROUTE_LIMIT
        } else {
            MAX_LIMIT
        };
        let limit = match limit {
            None => DEFAULT_LIMIT.min(max),
            Some(n) if (1..=max as u64).contains(&n) => n as usize,
            Some(_) => {
                let with = if reroute { " with reroute" } else { "" };
                return Err(bad("limit", format!("must be between 1 and {max}{with}")));
            }
        };
        Ok(ReplayRequest {
            filter: f,
            limit,
            reroute,
        })
    }

    /// The log read the selection needs: back to `from` (the log keeps 7 days), bounded.
    pub fn log_query(&self, now_ms: i64) -> LogQuery {
        let days = self.filter.from_ms.map_or(7, |from| {
            let span = (now_ms - from).max(0);
            (span + DAY_MS - 1) / DAY_MS
        });
        LogQuery {
            days: days.clamp(1, 30) as u64,
            email_id: self.filter.email_id.clone(),
            limit: MAX_LOG_SCAN,
            ..LogQuery::default()
        }
    }
}

/// One delivery as its newest log entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedDelivery {
    pub delivery_id: String,
    pub email_id: String,
    /// The masked target label (never the URL itself).
    pub target: String,
    pub status: LogStatus,
    pub detector: Option<String>,
    pub at_ms: i64,
}

impl SelectedDelivery {
    /// What the API shows of it.
    pub fn item(&self) -> Value {
        json!({
            "delivery_id": self.delivery_id, "email_id": self.email_id, "target": self.target,
            "status": self.status.as_str(), "detector": self.detector, "at": iso_utc(self.at_ms),
        })
    }
}

/// The deliveries a filter takes, newest first; `more` when the limit cut some off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub deliveries: Vec<SelectedDelivery>,
    pub more: bool,
    /// Every delivery id the log read holds, selected or not.
    pub known: HashSet<String>,
}

impl ReplayFilter {
    fn accepts(&self, e: &LogEntry, at_ms: i64) -> bool {
        self.from_ms.is_none_or(|from| at_ms >= from)
            && self.to_ms.is_none_or(|to| at_ms < to)
            && self.status.is_none_or(|s| s == e.status)
            && self.email_id.as_deref().is_none_or(|id| id == e.email_id)
            && self
                .detector
                .as_deref()
                .is_none_or(|d| Some(d) == e.detector.as_deref())
            && self.target.as_deref().is_none_or(|t| {
                format!("{} {}", e.webhook_url, e.target_url)
                    .to_lowercase()
                    .contains(t)
            })
    }
}

/// Selects deliveries from log entries sorted newest first (as the log API merges them): each
/// delivery is judged by its newest entry; entries about whole e-mails (no delivery) are not
/// deliveries.
pub fn select(entries: &[LogEntry], filter: &ReplayFilter, limit: usize) -> Selection {
    let mut out = Selection::default();
    for e in entries {
        let Some(id) = e.delivery_id.as_deref() else {
            continue;
        };
        if !out.known.insert(id.to_string()) {
            continue;
        }
        let at_ms = e.unix_ms();
        if !filter.accepts(e, at_ms) || out.more {
            continue;
        }
        if out.deliveries.len() == limit {
            out.more = true;
            continue;
        }
        out.deliveries.push(SelectedDelivery {
            delivery_id: id.to_string(),
            email_id: e.email_id.clone(),
            target: e.target_url.clone(),
            status: e.status,
            detector: e.detector.clone(),
            at_ms,
        });
    }
    out
}

/// The e-mail an archived payload was built from (the payload carries all of it), and the
/// links it was sent with. Read field by field, the strings taken out of the parsed payload so
/// a large body is not copied again.
pub fn email_from_payload(text: &str, now_ms: i64) -> Option<(EmailRecord, Vec<DeliveryLink>)> {
    let Value::Object(mut p) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let links = DeliveryLink::list_from(p.get("delivery_links"));
    let mut take = |k: &str| match p.remove(k) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let email = EmailRecord {
        email_id: take("microsoft_graph_email_id")?,
        subject: take("subject")?,
        sender: take("sender_address")?,
        sender_email: take("sender_email")?,
        body: take("email_content")?,
        date: take("receivedDateTime")?,
        received_at_ms: now_ms,
    };
    Some((email, links))
}

/// Gives the links found again the R2 copies the first run made (same link, same copy): a
/// re-routing does not fetch files again.
pub fn carry_offloads(links: &mut [DeliveryLink], archived: &[DeliveryLink]) {
    for link in links.iter_mut() {
        if let Some(old) = archived.iter().find(|a| a.raw_url == link.raw_url) {
            link.r2_url.clone_from(&old.r2_url);
            link.original_filename.clone_from(&old.original_filename);
        }
    }
}

/// What a re-routing decided for one e-mail.
#[derive(Debug, Clone)]
pub enum Rerouted {
    /// Send these deliveries (same delivery ids for the targets that did not change).
    /// The deliveries, and the rule that chose their targets (if one matched).
    Deliver(Box<PlannedDeliveries>, Option<RuleRef>),
    /// Nothing is sent now: `decision` is `skip`, `hold` or `no_target`, `reason` says why.
    NotSent {
        decision: &'static str,
        reason: String,
    },
}

/// Plans an archived e-mail again with the current documents and rules, at `now_ms`, as the
/// processing consumer would (detection, gating, routing); links keep their R2 copies.
/// `None` when the archived payload cannot be read.
pub fn reroute(
    archived_payload: &str,
    docs: &Documents,
    rules: &RoutingRules,
    now_ms: i64,
    tz: Zone,
) -> Option<Rerouted> {
    let (email, archived_links) = email_from_payload(archived_payload, now_ms)?;
    Some(match plan(&email, docs, rules, now_ms, tz) {
        Plan::Deliver {
            mut analysis,
            window,
            route,
        } => {
            carry_offloads(&mut analysis.links, &archived_links);
            let planned = deliveries(email, &analysis, &window, &route.targets);
            Rerouted::Deliver(Box::new(planned), route.rule())
        }
        Plan::Skip { reason, .. } => Rerouted::NotSent {
            decision: "skip",
            reason: reason.as_str().to_string(),
        },
        Plan::Hold {
            until_ms, reason, ..
        } => Rerouted::NotSent {
            decision: "hold",
            reason: format!("{} until {}", reason.as_str(), iso_utc(until_ms)),
        },
        Plan::NoTarget { .. } => Rerouted::NotSent {
            decision: "no_target",
            reason: "no webhook URL configured".into(),
        },
    })
}

/// The deliveries a re-routing sends, each with the status its delivery id had: the planned
/// deliveries that were selected, and those new to the e-mail (`new`: a target it did not go to
/// before). A target that did not change and was not selected is left alone: the receiver had
/// it, and the operator did not ask for it.
pub fn reroute_sends<'p>(
    planned: &'p PlannedDeliveries,
    selection: &Selection,
) -> Vec<(&'p PlannedDelivery, &'static str)> {
    // A few deliveries per e-mail: a search beats a hash table (and its code in the worker).
    let selected = |id: &str| {
        selection
            .deliveries
            .iter()
            .find(|s| s.delivery_id == id)
            .map(|s| s.status)
    };
    planned
        .deliveries
        .iter()
        .filter_map(|p| match selected(&p.delivery_id) {
            Some(status) => Some((p, status.as_str())),
            None if selection.known.contains(&p.delivery_id) => None,
            None => Some((p, "new")),
        })
        .collect()
}

/// What the API shows of a delivery a re-routing sends.
pub fn reroute_item(email_id: &str, p: &PlannedDelivery, status_before: &str) -> Value {
    json!({
        "delivery_id": p.delivery_id, "email_id": email_id,
        "target": target_label(&p.target_url), "status": status_before,
    })
}

#[cfg(test)]
mod tests;
