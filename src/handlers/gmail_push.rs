//! `POST /api/gmail/push`: a Gmail notification pushed by Pub/Sub. The push's OIDC token is
//! verified first (signature with Google's keys through WebCrypto, then its claims: the core's
//! `intake::gmail::jwt`); anything else is a JSON 401 or 403 and nothing is processed. A valid
//! push is answered as soon as its hint is stored by the mailbox's object, always 2xx (a
//! duplicate or stale one too: a non-2xx makes Pub/Sub deliver it again and again).

use serde_json::json;
use worker::{console_warn, Request, Response};

use crate::adapters::google::{verify_token, KeyError};
use crate::adapters::mailbox::MailboxCall;
use crate::adapters::net::now_ms;
use crate::context::Ctx;
use crate::http::{json, read_body_limited, OrUnavailable};
use facteur_core::error::{ApiError, ErrorCode};
use facteur_core::intake::gmail::jwt::{bearer, check_claims, parse, Expected, Refusal};
use facteur_core::intake::gmail::push::{parse_push, MAX_PUSH_BYTES};

fn refused(r: Refusal) -> ApiError {
    console_warn!("gmail push refused: {}", r.as_str());
    r.error()
}

/// `POST /api/gmail/push`
pub async fn push(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let Some(auth) = ctx.settings.gmail.as_ref().and_then(|g| g.push.as_ref()) else {
        return Err(refused(Refusal::NotConfigured));
    };
    let header = req.headers().get("Authorization").ok().flatten();
    let token = parse(bearer(header.as_deref()).map_err(refused)?).map_err(refused)?;
    let now = now_ms();
    match verify_token(&token, now).await {
        Ok(()) => {}
        Err(KeyError::Refused(r)) => return Err(refused(r)),
        Err(KeyError::Unavailable(e)) => return Err(e).or_unavailable("Google's signing keys"),
    }
    let expected = Expected {
        audience: &auth.audience,
        service_account: &auth.service_account,
    };
    check_claims(&token.claims, &expected, now.div_euclid(1000)).map_err(refused)?;
    let body = read_body_limited(&mut req, MAX_PUSH_BYTES)
        .await
        .map_err(|e| match e.code {
            ErrorCode::PayloadTooLarge => ApiError::too_large_for(MAX_PUSH_BYTES, "a Gmail push"),
            _ => e,
        })?;
    let notification = match parse_push(&body) {
        Ok(n) => n,
        Err(why) => {
            // Authenticated but not a Gmail notification: acknowledged (Pub/Sub would deliver
            // it forever), logged; the catch-up finds whatever it was about.
            console_warn!("gmail push ignored: {why}");
            return Ok(json(
                200,
                &json!({"success": true, "status": "ignored", "reason": why}),
            ));
        }
    };
    let reply = ctx
        .mailbox()
        .call(&MailboxCall::Notify { notification })
        .await
        .or_unavailable("Gmail mailbox")?;
    Ok(json(200, &reply))
}
