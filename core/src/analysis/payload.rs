//! The outbound webhook body (SPEC §7), built from the e-mail and what was learnt about it.

use serde::{Deserialize, Serialize};

use crate::analysis::email::EmailRecord;
use crate::gating::WindowFields;

/// Value of the `source` field.
pub const SOURCE: &str = "gmail_push";
/// Characters of the body copied to `bodyPreview`.
pub const PREVIEW_CHARS: usize = 200;

/// A file-sharing link found in the e-mail (SPEC §5), possibly offloaded to R2 (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLink {
    pub provider: String,
    pub raw_url: String,
    pub direct_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_filename: Option<String>,
}

impl DeliveryLink {
    /// The links of a stored payload's `delivery_links` (read field by field: a typed
    /// deserialiser here would cost the worker more code than the reading itself).
    pub fn list_from(links: Option<&serde_json::Value>) -> Vec<DeliveryLink> {
        let Some(items) = links.and_then(serde_json::Value::as_array) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|l| {
                let text = |k: &str| l.get(k)?.as_str().map(str::to_string);
                Some(DeliveryLink {
                    provider: text("provider")?,
                    raw_url: text("raw_url")?,
                    direct_url: text("direct_url")?,
                    r2_url: text("r2_url"),
                    original_filename: text("original_filename"),
                })
            })
            .collect()
    }
}

/// What detection and extraction found; empty for an undetected e-mail without links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    pub detector: Option<String>,
    pub delivery_time: Option<String>,
    pub links: Vec<DeliveryLink>,
    /// Provider links found but not kept (see [`crate::analysis::links::ExtractedLinks::dropped`]); the
    /// log entries of the e-mail carry it.
    #[serde(default)]
    pub links_dropped: u32,
    /// The routing rules ran out of their evaluation budget (see
    /// [`crate::analysis::routing::RouteDecision::budget_exhausted`]); the log entries carry it.
    #[serde(default)]
    pub rules_budget_exhausted: bool,
}

/// The JSON body POSTed to a receiver. Field order is the order receivers saw from the
/// Python deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub microsoft_graph_email_id: String,
    pub subject: String,
    #[serde(rename = "receivedDateTime")]
    pub received_date_time: String,
    pub sender_address: String,
    pub sender_email: String,
    #[serde(rename = "bodyPreview")]
    pub body_preview: String,
    pub email_content: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_time: Option<String>,
    pub webhooks_time_start: Option<String>,
    pub webhooks_time_end: Option<String>,
    pub delivery_links: Vec<DeliveryLink>,
    pub first_direct_download_url: Option<String>,
    pub dropbox_urls: Vec<String>,
    pub dropbox_first_url: Option<String>,
}

/// Builds the payload of an e-mail, taking its strings: the body (up to 25 MB) moves into
/// `email_content` instead of being copied.
pub fn build_payload(email: EmailRecord, analysis: &Analysis, window: &WindowFields) -> Payload {
    let dropbox: Vec<&DeliveryLink> = analysis
        .links
        .iter()
        .filter(|l| l.provider == "dropbox")
        .collect();
    Payload {
        microsoft_graph_email_id: email.email_id,
        subject: email.subject,
        received_date_time: email.date,
        sender_address: email.sender,
        sender_email: email.sender_email,
        body_preview: email.body.chars().take(PREVIEW_CHARS).collect(),
        email_content: email.body,
        source: SOURCE.to_string(),
        detector: analysis.detector.clone(),
        delivery_time: analysis.delivery_time.clone(),
        webhooks_time_start: window.webhooks_time_start.clone(),
        webhooks_time_end: window.webhooks_time_end.clone(),
        delivery_links: analysis.links.clone(),
        first_direct_download_url: analysis.links.first().map(|l| l.direct_url.clone()),
        dropbox_urls: dropbox.iter().map(|l| l.raw_url.clone()).collect(),
        dropbox_first_url: dropbox.first().map(|l| l.direct_url.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(body: &str) -> EmailRecord {
        EmailRecord {
            email_id: "id1".into(),
            subject: "Sujet".into(),
            sender: "Jane <jane@example.com>".into(),
            sender_email: "jane@example.com".into(),
            body: body.into(),
            date: "2026-01-01T00:00:00Z".into(),
            received_at_ms: 0,
        }
    }

    fn link(provider: &str, raw: &str, direct: &str) -> DeliveryLink {
        DeliveryLink {
            provider: provider.into(),
            raw_url: raw.into(),
            direct_url: direct.into(),
            r2_url: None,
            original_filename: None,
        }
    }

    #[test]
    fn links_read_back_from_a_stored_payload() {
        let mut with_r2 = link("dropbox", "https://d/a", "https://d/a?dl=1");
        with_r2.r2_url = Some("https://m/k".into());
        with_r2.original_filename = Some("a.zip".into());
        let analysis = Analysis {
            links: vec![with_r2, link("fromsmash", "https://f/b", "https://f/b")],
            ..Default::default()
        };
        let p = build_payload(email("b"), &analysis, &WindowFields::default());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            DeliveryLink::list_from(v.get("delivery_links")),
            analysis.links
        );
        assert!(DeliveryLink::list_from(None).is_empty());
        let partial = serde_json::json!([{"provider": "x"}, 3]);
        assert!(DeliveryLink::list_from(Some(&partial)).is_empty());
    }

    #[test]
    fn basic_fields_without_analysis() {
        let body = "é".repeat(250);
        let p = build_payload(email(&body), &Analysis::default(), &WindowFields::default());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["microsoft_graph_email_id"], "id1");
        assert_eq!(v["receivedDateTime"], "2026-01-01T00:00:00Z");
        assert_eq!(v["sender_address"], "Jane <jane@example.com>");
        assert_eq!(v["sender_email"], "jane@example.com");
        assert_eq!(v["bodyPreview"].as_str().unwrap().chars().count(), 200);
        assert_eq!(v["email_content"], body.as_str());
        assert_eq!(v["source"], "gmail_push");
        assert!(v.get("detector").is_none() && v.get("delivery_time").is_none());
        assert_eq!(v["delivery_links"], serde_json::json!([]));
        assert!(v["first_direct_download_url"].is_null() && v["dropbox_first_url"].is_null());
    }

    #[test]
    fn link_level_fields() {
        let analysis = Analysis {
            detector: Some("recadrage".into()),
            delivery_time: Some("10h30".into()),
            links: vec![
                link(
                    "fromsmash",
                    "https://fromsmash.com/A",
                    "https://fromsmash.com/A",
                ),
                link(
                    "dropbox",
                    "https://www.dropbox.com/s/a?dl=0&rlkey=k",
                    "https://www.dropbox.com/s/a?dl=1&rlkey=k",
                ),
                link(
                    "dropbox",
                    "https://www.dropbox.com/s/b",
                    "https://www.dropbox.com/s/b?dl=1",
                ),
            ],
            links_dropped: 0,
            rules_budget_exhausted: false,
        };
        let p = build_payload(
            email("b"),
            &analysis,
            &WindowFields {
                webhooks_time_start: Some("maintenant".into()),
                webhooks_time_end: Some("18:00".into()),
            },
        );
        assert_eq!(
            p.first_direct_download_url.as_deref(),
            Some("https://fromsmash.com/A")
        );
        assert_eq!(
            p.dropbox_urls,
            [
                "https://www.dropbox.com/s/a?dl=0&rlkey=k",
                "https://www.dropbox.com/s/b"
            ]
        );
        assert_eq!(
            p.dropbox_first_url.as_deref(),
            Some("https://www.dropbox.com/s/a?dl=1&rlkey=k")
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["detector"], "recadrage");
        assert_eq!(v["delivery_time"], "10h30");
        assert_eq!(v["webhooks_time_start"], "maintenant");
        assert!(v["delivery_links"][0].get("r2_url").is_none());
    }
}
