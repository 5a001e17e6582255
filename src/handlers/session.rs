//! `/api/session`: the console's sign-in (`POST`), who is signed in (`GET`) and sign-out
//! (`DELETE`). The password, token and limit decisions are the core's (`session`,
//! `attempts`); the guard Durable Object keeps the session ids, their key and the failure
//! counters. Sign-ins and sign-outs are audited.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::adapters::console_guard::new_session_id;
use crate::adapters::net::now_ms;
use crate::context::{Admin, Ctx};
use crate::http::{json, read_body_limited, OrUnavailable};
use facteur_core::base::auth::CredentialPath;
use facteur_core::base::time::iso_utc;
use facteur_core::error::{ApiError, ErrorCode};
use facteur_core::operator::guard::GuardCall;
use facteur_core::operator::session::{
    clear_cookie, issue, password_matches, same_origin, set_cookie, SESSION_TTL_MS,
};
use facteur_core::records::audit::{session_tag, AuditEvent};

/// Largest sign-in body.
const SIGN_IN_BODY_LIMIT: u64 = 4 * 1024;

fn with_cookie(resp: Response, cookie: &str) -> Response {
    let mut resp = resp;
    let _ = resp.headers_mut().set("Set-Cookie", cookie);
    resp
}

/// `POST /api/session` `{"password": …}`: opens a session (cookie, 12 hours). A wrong or
/// missing password (or a console without one) gets the same 401; past the failed-credential
/// limit every attempt gets a 429, the right password included.
pub async fn sign_in(ctx: &Ctx, mut req: Request) -> Result<Response, ApiError> {
    let bytes = read_body_limited(&mut req, SIGN_IN_BODY_LIMIT).await?;
    // A sign-in posted by another site is refused as every other cookie write.
    if let Some(origin) = req.headers().get("Origin").ok().flatten() {
        if !same_origin(Some(&origin), &req.inner().url()) {
            return Err(ApiError::cross_site());
        }
    }
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_json())?;
    // A missing or non-string password is a wrong one: counted, and answered the same.
    let presented = body.get("password").and_then(Value::as_str).unwrap_or("");
    let right = password_matches(presented, ctx.console_password());
    if !ctx
        .admit_credential(&req, CredentialPath::SignIn, right)
        .await?
    {
        return Err(ApiError::sign_in_failed());
    }
    let id = new_session_id().or_unavailable("Session store")?;
    let expires = now_ms() + SESSION_TTL_MS;
    let open = GuardCall::Open {
        session_id: id.clone(),
        expires_ms: expires,
    };
    let opened = ctx
        .guard()
        .call(&open)
        .await
        .or_unavailable("Session store")?;
    if !opened.ok {
        return Err(ApiError::unavailable("Session store"));
    }
    let token = issue(&ctx.session_key().await?, &id, expires);
    let session = Admin::Session(facteur_core::operator::session::Session {
        id: id.clone(),
        expires_ms: expires,
    });
    let tag = session_tag(&id);
    ctx.audit(
        &req,
        &session,
        AuditEvent::SignedIn {
            session: tag.clone(),
        },
    )
    .await;
    let resp = json(
        200,
        &json!({"success": true, "signed_in": true, "expires_at": iso_utc(expires), "session": tag}),
    );
    Ok(with_cookie(
        resp,
        &set_cookie(&token, SESSION_TTL_MS / 1000),
    ))
}

/// `GET /api/session`: who is calling, and what the console needs to know about the worker.
pub async fn info(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    let (via, expires_at, session) = match &admin {
        Admin::Token => ("token", None, None),
        Admin::Session(s) => (
            "session",
            Some(iso_utc(s.expires_ms)),
            Some(session_tag(&s.id)),
        ),
    };
    Ok(json(
        200,
        &json!({
            "success": true, "signed_in": true, "via": via, "expires_at": expires_at,
            "session": session, "client": ctx.client(&req),
            "version": env!("CARGO_PKG_VERSION"),
            "local_development": ctx.settings.dev_http_loopback,
        }),
    ))
}

/// `DELETE /api/session`: ends the session (its id is dropped by the guard, so the same cookie
/// no longer opens anything) and clears the cookie. Without a session it only clears the cookie.
pub async fn sign_out(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let ended = match ctx.require_admin(&req).await {
        Ok(Admin::Session(s)) => {
            let close = GuardCall::Close {
                session_id: s.id.clone(),
            };
            ctx.guard()
                .call(&close)
                .await
                .or_unavailable("Session store")?;
            let tag = session_tag(&s.id);
            ctx.audit(
                &req,
                &Admin::Session(s),
                AuditEvent::SignedOut { session: tag },
            )
            .await;
            true
        }
        Ok(Admin::Token) => false,
        Err(e) if e.code == ErrorCode::Unauthorized => false,
        Err(e) => return Err(e),
    };
    let resp = json(200, &json!({"success": true, "signed_out": ended}));
    Ok(with_cookie(resp, &clear_cookie()))
}
