//! `POST /api/ingress/gmail` (SPEC §2): answers in the prescribed order, and answers `queued`
//! only once the e-mail is durably on the processing queue.

use worker::{Request, Response};

use crate::adapters::intake::mirror_marker;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, read_body_limited, OrUnavailable};
use facteur_core::base::auth::{authorized, presents_credential, CredentialPath};
use facteur_core::error::ApiError;
use facteur_core::intake::ingest::{parse_ingest_head, IngestStatus};
use facteur_core::operator::console::TEST_SENDER;

fn ok(status: IngestStatus, email_id: &str) -> Response {
    json(200, &status.body(email_id))
}

/// Handles one push.
pub async fn handle(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    let right = authorized(header.as_deref(), &ctx.settings.process_api_token);
    // A token presented is counted against the client's failure limit (a missing one is just
    // refused); past it, every token is answered 429, the right one too.
    if !presents_credential(header.as_deref())
        || !ctx
            .admit_credential(&req, CredentialPath::IngestBearer, right)
            .await?
    {
        return Err(ApiError::unauthorized());
    }
    let stored = ctx
        .stores
        .load_documents()
        .await
        .or_unavailable("Configuration store")?;
    let docs = ctx.settings.documents(&stored);
    let limit = u64::from(docs.prefs.max_email_size_mb) * 1_000_000;
    let bytes = read_body_limited(&mut req, limit).await?;
    let now = now_ms();
    // The request's own text is what is queued: only its head is parsed here.
    let text = String::from_utf8(bytes).map_err(|_| ApiError::invalid_json())?;
    let email = parse_ingest_head(&text)?;
    // Rows 5 to 10, shared with the Gmail push (`adapters::intake`).
    let took = ctx.intake().take(text, &email, &docs, now).await?;
    if took.mirror {
        ctx.in_background(mirror_marker(ctx.redis(), took.email_id.clone()));
    }
    if took.status == IngestStatus::Queued
        && ctx.settings.gmail.is_some()
        && email.sender != TEST_SENDER
    {
        // The console's "taken by the script" figure, off the answer's path.
        ctx.in_background(ctx.mailbox().count_script_taken());
    }
    Ok(ok(took.status, &took.email_id))
}
