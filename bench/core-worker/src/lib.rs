//! Benchmark worker: one pass of facteur-core per request, on a body generated inside the
//! isolate (and kept between requests), so `bench/core.mjs` times the figure that matters —
//! the core compiled to wasm, running in workerd — without sending 25 MB per request.
//!
//! `POST /` with `{"pass", "body": {"kind", "bytes", "param"?}, "reps"?, …}`; the answer
//! describes what the pass found, so the script can check that it did the work it meant to.
//! Time is measured outside: inside workerd the clock only moves on I/O.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::TimeZone as _;
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, Result};

use facteur_core::analysis::detect::detect;
use facteur_core::analysis::email::EmailRecord;
use facteur_core::analysis::links::extract_links;
use facteur_core::analysis::pipeline::{deliveries, plan, Plan};
use facteur_core::analysis::routing::{route, validate_rules, RoutingRules};
use facteur_core::base::text::fold_case;
use facteur_core::config::ConfigDoc;
use facteur_core::config::{apply_update, DocMaps, Documents};

pub mod inputs;

thread_local! {
    static BODIES: RefCell<HashMap<String, Rc<String>>> = RefCell::new(HashMap::new());
    static RULES: RefCell<Option<(String, Rc<RoutingRules>)>> = const { RefCell::new(None) };
}

const SUBJECT: &str = "Média Solution - Missions Recadrage - Lot 12";
const DEFAULT_URL: &str = "https://hook.example/default";

/// The body a request names, ending with `tail` (what its rules need to find), `bytes` long in
/// all.
fn body_of(spec: &Value, tail: &str) -> std::result::Result<Rc<String>, String> {
    let kind = spec["kind"].as_str().unwrap_or("text");
    let bytes = spec["bytes"].as_u64().unwrap_or(1024) as usize;
    let param = spec["param"].as_u64().unwrap_or(0) as usize;
    let key = format!("{kind}:{bytes}:{param}:{tail}");
    if let Some(b) = BODIES.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(b);
    }
    let mut text = inputs::body(kind, bytes.saturating_sub(tail.len()), param)
        .ok_or(format!("unknown body {kind}"))?;
    text.push_str(tail);
    let body = Rc::new(text);
    // One body at a time: 25 MB bodies of several kinds would add up.
    BODIES.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.insert(key, Rc::clone(&body));
    });
    Ok(body)
}

/// The rules a request names: a document, or the name of one of [`inputs::worst_rules`].
fn rules_of(doc: &Value) -> std::result::Result<Rc<RoutingRules>, String> {
    let doc = named_rules(doc)?.0;
    let text = doc.to_string();
    if let Some(r) = RULES.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(t, _)| *t == text)
            .map(|(_, r)| Rc::clone(r))
    }) {
        return Ok(r);
    }
    let rules = Rc::new(validate_rules(&doc).map_err(|e| e.message)?);
    RULES.with(|c| *c.borrow_mut() = Some((text, Rc::clone(&rules))));
    Ok(rules)
}

fn named_rules(doc: &Value) -> std::result::Result<(Value, String), String> {
    match doc {
        Value::String(name) => {
            inputs::worst_rules(name).ok_or(format!("no rule document named {name}"))
        }
        Value::Null => Ok((json!({"rules": []}), String::new())),
        doc => Ok((doc.clone(), String::new())),
    }
}

fn email(body: &str) -> EmailRecord {
    EmailRecord {
        email_id: "ef626f4a3197550e73b6e5a1b3cdc39e".into(),
        subject: SUBJECT.into(),
        sender: "Média Solution <notification@example.com>".into(),
        sender_email: "notification@example.com".into(),
        body: body.to_string(),
        date: "2026-06-01T07:05:00Z".into(),
        received_at_ms: 0,
    }
}

/// Runs one pass once; the answer says what it found.
fn run(pass: &str, input: &Value, body: &str) -> std::result::Result<Value, String> {
    let tz = facteur_zone::parse_zone("Europe/Paris").ok_or("no time zone")?;
    let now_ms = 1_780_297_500_000; // 2026-06-01T07:05:00Z, 09:05 in Paris
    Ok(match pass {
        "noop" => json!({"bytes": body.len()}),
        "detect" => {
            let now = tz.timestamp_millis_opt(now_ms).single().ok_or("time")?;
            json!({"detector": detect(SUBJECT, body, now).detector_name()})
        }
        "links" => {
            let found = extract_links(body);
            json!({"kept": found.links.len(), "dropped": found.dropped})
        }
        "route" => {
            let rules = rules_of(&input["rules"])?;
            let d = route(
                &rules,
                Some(DEFAULT_URL),
                "notification@example.com",
                SUBJECT,
                body,
            )
            .map_err(|e| e.to_string())?;
            json!({"matched": d.matched_rule.map(|(id, _)| id), "targets": d.targets.len(),
                   "exhausted": d.budget_exhausted, "units": d.budget_spent})
        }
        "validate" => {
            let rules = validate_rules(&named_rules(&input["rules"])?.0).map_err(|e| e.message)?;
            json!({"rules": rules.rules.len()})
        }
        "heaviest" => json!({"k": inputs::heaviest_repetition()}),
        "plan" => {
            // What the processing consumer runs for one e-mail: analyse, gate, route, then the
            // payload serialised once.
            let rules = rules_of(&input["rules"])?;
            let mut stored = DocMaps::default();
            if let Some(prefs) = input.get("prefs") {
                stored.prefs = apply_update(ConfigDoc::ProcessingPrefs, &stored.prefs, prefs)
                    .map_err(|e| e.message)?;
            }
            let docs = Documents::resolve(&DocMaps::default(), &stored);
            let mut docs = docs;
            docs.webhook.webhook_url = Some(DEFAULT_URL.into());
            let e = email(body);
            match plan(&e, &docs, &rules, now_ms, tz) {
                Plan::Deliver {
                    analysis,
                    window,
                    route,
                } => {
                    let planned = deliveries(e, &analysis, &window, &route.targets);
                    let text =
                        serde_json::to_string(&planned.payload).map_err(|e| e.to_string())?;
                    json!({"decision": "deliver", "payload_bytes": text.len(), "links": analysis.links.len()})
                }
                other => json!({"decision": format!("{other:?}").split([' ', '{']).next()}),
            }
        }
        "fold" => json!({"bytes": fold_case(body).len()}),
        "lower" => json!({"bytes": body.to_ascii_lowercase().len()}),
        "contains" => {
            let needle = input["needle"].as_str().unwrap_or("zzz");
            json!({"found": body.contains(needle)})
        }
        "regex" => {
            let pattern = input["pattern"].as_str().unwrap_or("x");
            let re = regex_lite::RegexBuilder::new(pattern)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| e.to_string())?;
            let window = input["window"].as_u64().map_or(body.len(), |w| w as usize);
            let mut end = window.min(body.len());
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            let mut budget = u64::MAX;
            let matched = re.is_match_at_within(&body[..end], 0, &mut budget);
            json!({"matched": matched, "steps": u64::MAX - budget})
        }
        other => return Err(format!("unknown pass {other}")),
    })
}

#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let input: Value = req.json().await.unwrap_or(Value::Null);
    let tail = named_rules(&input["rules"]).map(|(_, tail)| tail);
    let answer = tail
        .and_then(|tail| body_of(&input["body"], &tail))
        .and_then(|body| {
            let reps = input["reps"].as_u64().unwrap_or(1).max(1);
            let mut last = Value::Null;
            for _ in 0..reps {
                last = run(input["pass"].as_str().unwrap_or("noop"), &input, &body)?;
            }
            Ok(last)
        });
    match answer {
        Ok(v) => Response::from_json(&json!({"ok": true, "result": v})),
        Err(e) => Ok(Response::from_json(&json!({"ok": false, "error": e}))?.with_status(400)),
    }
}
