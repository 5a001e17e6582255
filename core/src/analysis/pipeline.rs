//! The processing of one accepted e-mail, as pure steps: analyse (detect, extract links, gate,
//! route), then — after the edge has offloaded links to R2 — build one delivery per target.

use chrono::TimeZone as _;
use serde::Serialize;

use crate::analysis::detect::detect;
use crate::analysis::email::EmailRecord;
use crate::analysis::links::extract_links;
use crate::analysis::payload::{build_payload, Analysis, Payload};
use crate::analysis::routing::{route, RouteDecision, RoutingError, RoutingRules};
use crate::base::ids::delivery_id;
use crate::base::time::Zone;
use crate::config::Documents;
use crate::gating::WindowFields;
use crate::gating::{gate, GateDecision, GateKind, HoldReason, SkipReason};

/// What to do with an e-mail.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Send to these targets.
    Deliver {
        analysis: Analysis,
        window: WindowFields,
        route: RouteDecision,
    },
    /// Do not send; the e-mail stays processed.
    Skip {
        analysis: Analysis,
        reason: SkipReason,
    },
    /// Try again at `until_ms`.
    Hold {
        analysis: Analysis,
        until_ms: i64,
        reason: HoldReason,
    },
    /// No target URL is configured: a configuration error, reported and dead-lettered.
    NoTarget { analysis: Analysis },
}

impl Plan {
    /// What was learnt about the e-mail.
    pub fn analysis(&self) -> &Analysis {
        match self {
            Plan::Deliver { analysis, .. }
            | Plan::Skip { analysis, .. }
            | Plan::Hold { analysis, .. }
            | Plan::NoTarget { analysis } => analysis,
        }
    }
}

/// Runs detection and extraction on an e-mail.
pub fn analyse(
    email: &EmailRecord,
    docs: &Documents,
    now_ms: i64,
    tz: Zone,
) -> (Analysis, GateKind, bool) {
    let now_local = tz
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_else(|| tz.timestamp_millis_opt(0).unwrap());
    let detection = detect(&email.subject, &email.body, now_local);
    let found = extract_links(&email.body);
    let has_links = !found.links.is_empty();
    let kind = detection.gate_kind();
    // `mirror_media_to_custom` off: links are still looked for (the no-links policy needs them)
    // but not sent, so none is cut either.
    let (links, links_dropped) = if docs.prefs.mirror_media_to_custom {
        (found.links, found.dropped)
    } else {
        (Vec::new(), 0)
    };
    let analysis = Analysis {
        detector: detection.detector_name().map(str::to_string),
        delivery_time: detection.delivery_time().map(str::to_string),
        links,
        links_dropped,
        rules_budget_exhausted: false,
    };
    (analysis, kind, has_links)
}

/// Decides what happens to an e-mail now.
pub fn plan(
    email: &EmailRecord,
    docs: &Documents,
    rules: &RoutingRules,
    now_ms: i64,
    tz: Zone,
) -> Plan {
    let (analysis, kind, has_links) = analyse(email, docs, now_ms, tz);
    match gate(
        docs,
        &kind,
        has_links,
        &email.subject,
        &email.body,
        now_ms,
        tz,
    ) {
        GateDecision::Skip { reason } => Plan::Skip { analysis, reason },
        GateDecision::Hold { until_ms, reason } => Plan::Hold {
            analysis,
            until_ms,
            reason,
        },
        GateDecision::Send { window } => {
            match route(
                rules,
                docs.webhook.webhook_url.as_deref(),
                &email.sender_email,
                &email.subject,
                &email.body,
            ) {
                Ok(route) => Plan::Deliver {
                    analysis: Analysis {
                        rules_budget_exhausted: route.budget_exhausted,
                        ..analysis
                    },
                    window,
                    route,
                },
                Err(RoutingError::NoWebhookUrl) => Plan::NoTarget { analysis },
            }
        }
    }
}

/// One delivery to make: where, and under which id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedDelivery {
    pub delivery_id: String,
    pub target_url: String,
    /// Provider links of the e-mail left out of the payload ([`Analysis::links_dropped`]),
    /// carried to the delivery's log entries.
    pub links_dropped: u32,
    /// [`Analysis::rules_budget_exhausted`], carried to the delivery's log entries.
    pub rules_budget_exhausted: bool,
}

/// The deliveries of one e-mail: one payload, the same for every target (serialised once).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedDeliveries {
    pub email_id: String,
    pub payload: Payload,
    pub deliveries: Vec<PlannedDelivery>,
}

/// Builds the payload (taking the e-mail's strings, see [`build_payload`]) and one delivery
/// per target.
pub fn deliveries(
    email: EmailRecord,
    analysis: &Analysis,
    window: &WindowFields,
    targets: &[String],
) -> PlannedDeliveries {
    let deliveries = targets
        .iter()
        .map(|t| PlannedDelivery {
            delivery_id: delivery_id(&email.email_id, t),
            target_url: t.clone(),
            links_dropped: analysis.links_dropped,
            rules_budget_exhausted: analysis.rules_budget_exhausted,
        })
        .collect();
    PlannedDeliveries {
        email_id: email.email_id.clone(),
        payload: build_payload(email, analysis, window),
        deliveries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::links::MAX_LINKS_PER_EMAIL;
    use crate::config::DocMaps;

    fn email(body: String) -> EmailRecord {
        EmailRecord {
            email_id: "e1".into(),
            subject: "Photos".into(),
            sender: "a@b.c".into(),
            sender_email: "a@b.c".into(),
            body,
            date: String::new(),
            received_at_ms: 0,
        }
    }

    #[test]
    fn the_link_cut_travels_to_every_planned_delivery() {
        let body: String = (0..MAX_LINKS_PER_EMAIL + 5)
            .map(|i| format!("https://fromsmash.com/x{i} "))
            .collect();
        let e = email(body);
        let mut docs = Documents::resolve(&DocMaps::default(), &DocMaps::default());
        let (analysis, _, has_links) = analyse(&e, &docs, 0, chrono_tz::Europe::Paris);
        assert!(has_links);
        assert_eq!(analysis.links.len(), MAX_LINKS_PER_EMAIL);
        assert_eq!(analysis.links_dropped, 5);
        let targets = [
            "https://a.example/h".to_string(),
            "https://b.example/h".into(),
        ];
        let planned = deliveries(e.clone(), &analysis, &WindowFields::default(), &targets);
        assert!(planned.deliveries.iter().all(|d| d.links_dropped == 5));
        assert_eq!(planned.payload.delivery_links.len(), MAX_LINKS_PER_EMAIL);
        // Links not sent at all: nothing is cut.
        docs.prefs.mirror_media_to_custom = false;
        let (analysis, _, has_links) = analyse(&e, &docs, 0, chrono_tz::Europe::Paris);
        assert!(has_links && analysis.links.is_empty());
        assert_eq!(analysis.links_dropped, 0);
    }
}
