//! `GET /api/audit?limit=&action=&who=&from=&days=`: the audit trail, newest first (what an
//! entry holds and the filters are the core's: `records::audit`, `operator::audit`). No route
//! deletes an entry; they expire after 400 days.

use serde_json::json;
use worker::{Request, Response};

use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, query_of, OrUnavailable};
use facteur_core::error::ApiError;
use facteur_core::operator::audit::AuditQuery;
use facteur_core::records::audit::{ACTIONS, AUDIT_TTL_SECS};

/// `GET /api/audit`
pub async fn list(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let query = AuditQuery::parse(&query_of(&req))?;
    let entries = ctx
        .audit_log()
        .list(&query, now_ms())
        .await
        .or_unavailable("Audit store")?;
    Ok(json(
        200,
        &json!({
            "success": true, "count": entries.len(), "entries": entries,
            "actions": ACTIONS, "retention_days": AUDIT_TTL_SECS / 86_400,
        }),
    ))
}
