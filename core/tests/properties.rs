//! Property tests of the pure parsers an e-mail's sender controls or an operator types: the
//! ingest request, times of day, routing rules (and their evaluation), link extraction, webhook
//! URLs, and what Gmail push reads from outside (a message's MIME, its encoded-words, a push's
//! token and envelope). Each runs a few hundred generated inputs; a failure prints the smallest input found.

use facteur_core::analysis::links::{extract_links, MAX_LINKS_PER_EMAIL, MAX_LINK_BYTES};
use facteur_core::analysis::routing::{route_within, validate_rules, RULES_BUDGET};
use facteur_core::base::ids::email_id;
use facteur_core::base::mask::mask_url;
use facteur_core::config::{parse_time_of_day, webhook_host};
use facteur_core::intake::gmail::mime::{decode_words, from_raw, quoted_printable};
use facteur_core::intake::gmail::{jwt, push::parse_push};
use facteur_core::intake::ingest::parse_ingest;
use proptest::prelude::*;
use serde_json::{json, Value};

/// JSON values of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map("[a-z_]{1,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text with the pieces links, regexes and URLs are made of.
fn texty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("https://".to_string()),
        Just("HTTP://www.".to_string()),
        Just("fromsmash.com/".to_string()),
        Just("dropbox.com/scl/fi/".to_string()),
        Just("swisstransfer.com/d/".to_string()),
        Just("&amp;".to_string()),
        Just("?dl=0&raw=1".to_string()),
        Just(" ".to_string()),
        Just("\u{a0}".to_string()),
        Just(")".to_string()),
        Just(".".to_string()),
        Just("<a href=\"".to_string()),
        "[a-zA-Z0-9]{1,6}",
        "\\PC{1,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn ingest_never_panics_and_accepts_exactly_the_required_fields(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        fields in prop::collection::hash_map(
            prop_oneof![Just("subject"), Just("sender"), Just("body"), Just("date"), Just("x")],
            any_json(),
            0..5,
        ),
    ) {
        let _ = parse_ingest(&bytes, 0);
        let doc = Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let text = doc.to_string();
        let required = |k: &str| fields.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        match parse_ingest(text.as_bytes(), 7) {
            Ok(email) => {
                prop_assert!(required("sender") && required("body"), "{text}");
                prop_assert_eq!(&email.body, fields["body"].as_str().unwrap());
                prop_assert_eq!(email.sender_email.trim(), email.sender_email.as_str());
                prop_assert_eq!(email.sender_email.to_lowercase(), email.sender_email.clone());
                prop_assert_eq!(email.email_id.clone(), email_id(&email.subject, &email.sender_email, &email.date));
                prop_assert!(email.email_id.len() == 32 && email.email_id.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            Err(e) => {
                prop_assert_eq!(e.status(), 400);
                prop_assert!(!(required("sender") && required("body")), "{text}: {e}");
            }
        }
    }

    #[test]
    fn times_of_day_parse_what_they_should(s in ".{0,8}", h in 0u32..24, m in 0u32..60) {
        if let Some(minutes) = parse_time_of_day(&s) {
            prop_assert!(minutes < 24 * 60, "{s:?}");
        }
        for written in [format!("{h:02}:{m:02}"), format!("{h}h{m:02}"), format!(" {h:02}H{m:02} ")] {
            prop_assert_eq!(parse_time_of_day(&written), Some(h * 60 + m), "{}", written);
        }
        prop_assert_eq!(parse_time_of_day(&format!("{h}h")), Some(h * 60));
        prop_assert_eq!(parse_time_of_day(&format!("{}:{m:02}", h + 24)), None);
        prop_assert_eq!(parse_time_of_day(&format!("{h:02}:{}", m + 60)), None);
    }

    #[test]
    fn rules_validation_never_panics_and_is_idempotent(doc in any_json(), value in texty()) {
        let _ = validate_rules(&doc);
        for operator in ["contains", "equals", "regex"] {
            let doc = json!({"rules": [{"name": "p", "conditions": [
                {"field": "body", "operator": operator, "value": value, "case_sensitive": value.len() % 2 == 0}],
                "actions": {"webhook_url": "https://hook.example/p"}}]});
            if let Ok(rules) = validate_rules(&doc) {
                let again = validate_rules(&serde_json::to_value(&rules).unwrap()).expect("a saved document validates");
                prop_assert_eq!(again, rules);
            }
        }
    }

    #[test]
    fn accepted_rules_evaluate_within_the_budget(value in texty(), body in texty(), budget in 0u64..2_000_000) {
        for operator in ["contains", "equals", "regex"] {
            let doc = json!({"rules": [{"name": "p", "conditions": [
                {"field": "body", "operator": operator, "value": value}],
                "actions": {"webhook_url": "https://hook.example/p"}}]});
            let Ok(rules) = validate_rules(&doc) else { continue };
            for b in [budget, RULES_BUDGET] {
                let d = route_within(b, &rules, Some("https://hook.example/d"), "a@b.c", "s", &body).unwrap();
                prop_assert!(d.budget_spent <= b);
                prop_assert!(!d.targets.is_empty());
                if d.budget_exhausted {
                    prop_assert!(d.matched_rule.is_none());
                }
            }
        }
    }

    #[test]
    fn extracted_links_are_bounded_clean_and_distinct(body in texty()) {
        let found = extract_links(&body);
        prop_assert!(found.links.len() <= MAX_LINKS_PER_EMAIL);
        let mut seen = std::collections::HashSet::new();
        for l in &found.links {
            prop_assert!(l.raw_url.len() <= MAX_LINK_BYTES);
            prop_assert!(l.raw_url.to_ascii_lowercase().starts_with("http"));
            prop_assert!(!l.raw_url.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')));
            prop_assert!(["dropbox", "fromsmash", "swisstransfer"].contains(&l.provider.as_str()));
            prop_assert!(seen.insert(l.raw_url.clone()), "distinct");
            if l.provider == "dropbox" {
                prop_assert!(l.direct_url.contains("dl=1"));
            }
        }
    }

    #[test]
    fn the_cap_keeps_the_first_links_and_counts_the_rest(n in 0usize..150, repeat in 0usize..3) {
        let links: Vec<String> = (0..n).map(|i| format!("https://fromsmash.com/L{i}")).collect();
        let body = std::iter::repeat_n(links.join(" "), repeat + 1).collect::<Vec<_>>().join(" ");
        let found = extract_links(&body);
        let kept = n.min(MAX_LINKS_PER_EMAIL);
        prop_assert_eq!(found.links.len(), kept);
        prop_assert_eq!(found.dropped as usize, (n - kept) * (repeat + 1));
        for (l, want) in found.links.iter().zip(&links) {
            prop_assert_eq!(&l.raw_url, want);
        }
    }

    #[test]
    fn an_accepted_webhook_url_is_delivered_to_the_host_it_logs(
        url in prop_oneof![
            "https://[a-zA-Z0-9.:@\\\\%_\\-\\[\\]\t]{0,20}(/[a-z@\\\\?#]{0,6})?",
            "https://[a-z0-9]{1,8}\\.[a-z0-9]{1,4}(:[0-9]{1,6})?(/.{0,10})?",
        ]
    ) {
        if let Ok(host) = webhook_host(&url) {
            let parsed = url::Url::parse(&url).expect("WHATWG parses what validation accepts");
            prop_assert_eq!(parsed.scheme(), "https");
            prop_assert_eq!(parsed.host_str(), Some(host.as_str()), "{}", url);
            prop_assert_eq!(parsed.username(), "");
            prop_assert_eq!(mask_url(&url), format!("https://{host}/***"));
        }
    }

    #[test]
    fn gmail_inputs_never_panic_and_stay_bounded(
        raw in prop::collection::vec(prop_oneof![
            Just(b"\r\n".to_vec()), Just(b"\n\n".to_vec()), Just(b"--b".to_vec()),
            Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
            Just(b"Content-Type: text/html; charset=iso-8859-1\r\n".to_vec()),
            Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
            Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
            Just(b"Subject: =?UTF-8?B?w6k=?= =?x?Q?=ZZ?=\r\n".to_vec()),
            Just(b"=".to_vec()), Just(b"=C3".to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ], 0..60),
        words in "[=?a-zA-Z0-9_ ]{0,60}",
        token in "[A-Za-z0-9_.\\-]{0,120}",
        body in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let raw = raw.concat();
        let c = from_raw(&raw);
        // The body is decoded from the message's own bytes: never longer than them, as text.
        prop_assert!(c.body.chars().count() <= raw.len());
        let _ = decode_words(&words);
        prop_assert!(quoted_printable(words.as_bytes()).len() <= words.len());
        let _ = jwt::parse(&token);
        let _ = parse_push(&body);
    }
}
