//! `GET /api/emails/<email_id>`: the timeline of one e-mail, from the delivery log and the
//! archive; the assembly is the core's (`operator::timeline`).

use serde_json::json;
use worker::{Request, Response};

use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, OrUnavailable};
use facteur_core::error::ApiError;
use facteur_core::operator::timeline::{timeline as compute_timeline, Archived};
use facteur_core::store::log::{LogQuery, MAX_LOG_LIMIT};

/// `GET /api/emails/<email_id>`: what was decided, every attempt of every delivery and the
/// payload as sent (from the archive, 14 days).
pub async fn timeline(ctx: &Ctx, req: Request, email_id: &str) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = LogQuery {
        days: 30,
        email_id: Some(email_id.to_string()),
        limit: MAX_LOG_LIMIT as usize,
        ..LogQuery::default()
    };
    let logs = ctx
        .stores
        .log
        .recent(&query, now_ms())
        .await
        .or_unavailable("Log stores")?;
    let mut ids: Vec<&str> = Vec::new();
    for id in logs.iter().filter_map(|e| e.delivery_id.as_deref()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
    let records = ctx
        .stores
        .archived_deliveries(&ids)
        .await
        .unwrap_or_default();
    let mut archived = Vec::new();
    for record in records.into_iter().flatten() {
        let body = ctx
            .stores
            .body(&record.body_key)
            .await
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok());
        archived.push(Archived { record, body });
    }
    let targets: Vec<(String, String)> = archived
        .iter()
        .map(|a| (a.record.delivery_id.clone(), a.record.target_url.clone()))
        .collect();
    if logs.is_empty() && archived.is_empty() {
        return Err(ApiError::no_such(
            "e-mail in the log (kept 7 days)",
            email_id,
        ));
    }
    let mut email = compute_timeline(email_id, &logs, archived);
    // A parked delivery waits for its target's next probe: ask the target's object when.
    let parked: Vec<String> = email.parked().map(str::to_string).collect();
    for id in parked {
        let Some((_, url)) = targets.iter().find(|(d, _)| *d == id) else {
            continue;
        };
        if let Ok(view) = ctx.targets().state(url).await {
            if let Some(at) = view.next_probe_ms {
                email.set_next_probe(&id, at);
            }
        }
    }
    Ok(json(200, &json!({"success": true, "email": email})))
}
