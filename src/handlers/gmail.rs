//! The console's Gmail endpoints: the connected mailbox's state, connecting it (Google's
//! authorization-code flow with PKCE, the redirect back), "sync now" and disconnecting. The
//! decisions are the core's (`intake::gmail::oauth`, `sync`); the mailbox's object does the
//! work.

use serde_json::{json, Value};
use worker::{console_warn, Headers, Request, Response};

use crate::adapters::mailbox::MailboxCall;
use crate::adapters::net::now_ms;
use crate::context::{Admin, Ctx};
use crate::http::{json, query_of, OrUnavailable};
use facteur_core::error::ApiError;
use facteur_core::intake::gmail::oauth::{
    back_to_console as oauth_page, binding_cookie, callback_uri, clear_binding_cookie,
    ConnectError, BINDING_COOKIE,
};
use facteur_core::intake::gmail::sync::{mask_address, Mailbox};
use facteur_core::operator::session::{cookie_values, request_origin};
use facteur_core::records::audit::{Actor, AuditEvent};

fn not_configured() -> ApiError {
    ApiError::not_configured(
        "Gmail push is not configured: set GMAIL_CLIENT_ID, GMAIL_CLIENT_SECRET, GMAIL_TOKEN_KEY and GMAIL_PUBSUB_TOPIC (docs/gmail.md)",
    )
}

/// The redirect URI on this console's origin.
fn redirect_uri(req: &Request) -> Option<String> {
    request_origin(&req.inner().url()).map(|o| callback_uri(&o))
}

/// `GET /api/gmail`: the mailbox, its watch and sync, and what the console needs to connect it.
pub async fn status(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    let mut view = match &ctx.settings.gmail {
        None => Mailbox::default().view(false, None, now_ms()),
        Some(_) => ctx
            .mailbox()
            .call(&MailboxCall::Status)
            .await
            .or_unavailable("Gmail mailbox")?,
    };
    if let Value::Object(map) = &mut view {
        map.insert("success".into(), Value::Bool(true));
        // What the console says after a connection that did not complete (`?error=<code>`).
        let messages: serde_json::Map<String, Value> = ConnectError::ALL
            .iter()
            .map(|e| (e.as_str().to_string(), json!(e.message())))
            .collect();
        map.insert("connect_errors".into(), Value::Object(messages));
        map.insert("redirect_uri".into(), json!(redirect_uri(&req)));
        map.insert(
            "push_configured".into(),
            json!(ctx
                .settings
                .gmail
                .as_ref()
                .is_some_and(|g| g.push.is_some())),
        );
    }
    Ok(json(200, &view))
}

/// `POST /api/gmail/connect`: starts the connection; answers Google's consent URL and sets the
/// cookie that binds the connection to this browser.
pub async fn connect(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    if ctx.settings.gmail.is_none() {
        return Err(not_configured());
    }
    let session_id = match admin {
        Admin::Session(s) => Some(s.id),
        Admin::Token => None,
    };
    let redirect_uri = redirect_uri(&req).ok_or_else(ApiError::internal)?;
    let reply = ctx
        .mailbox()
        .call(&MailboxCall::ConnectStart {
            session_id,
            redirect_uri: redirect_uri.clone(),
        })
        .await
        .or_unavailable("Gmail mailbox")?;
    let (Some(url), Some(binding)) = (
        reply["authorization_url"].as_str(),
        reply["binding"].as_str(),
    ) else {
        return Err(not_configured());
    };
    let resp = json(
        200,
        &json!({"success": true, "authorization_url": url, "redirect_uri": redirect_uri}),
    );
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.append("Set-Cookie", &binding_cookie(binding));
    Ok(resp.with_headers(headers))
}

/// The callback's answer: a page that moves on to the console's Gmail page by itself (see
/// `intake::gmail::oauth::back_to_console`), the binding cookie cleared.
fn back_to_console(error: Option<ConnectError>) -> Response {
    let (location, html) = oauth_page(error);
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/html; charset=utf-8");
    let _ = headers.set("Refresh", &format!("0;url={location}"));
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.append("Set-Cookie", &clear_binding_cookie());
    Response::ok(html)
        .map(|r| r.with_headers(headers))
        .unwrap_or_else(|_| crate::http::error(&ApiError::internal()))
}

/// `GET /gmail/callback?code&state` (or `?error`): Google's redirect back. The
/// state, the browser binding, the session and the code are checked by the mailbox's object;
/// the browser goes back to the console's Gmail page either way.
pub async fn callback(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    if ctx.settings.gmail.is_none() {
        return Ok(back_to_console(Some(ConnectError::NotConfigured)));
    }
    let query = query_of(&req);
    let param = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty() && v.len() <= 2_048)
    };
    if param("error").is_some() {
        return Ok(back_to_console(Some(ConnectError::Denied)));
    }
    let (Some(state), Some(code)) = (param("state"), param("code")) else {
        return Ok(back_to_console(Some(ConnectError::StateUnknown)));
    };
    let cookies = req.headers().get("Cookie").ok().flatten();
    let bindings = cookie_values(cookies.as_deref(), BINDING_COOKIE)
        .into_iter()
        .map(str::to_string)
        .collect();
    let reply = ctx
        .mailbox()
        .call(&MailboxCall::ConnectFinish {
            state,
            code,
            bindings,
        })
        .await;
    let error = match reply {
        Ok(r) if r["ok"] == true => {
            // The redirect comes from Google, without the session cookie (SameSite=Strict):
            // the connection is the session's that started it.
            let from = ctx.client(&req);
            let actor = match r["session_id"].as_str() {
                Some(id) => Actor::session(id, &from),
                None => Actor::admin_token(&from),
            };
            let account = mask_address(r["email_address"].as_str().unwrap_or(""));
            let event = AuditEvent::GmailChanged {
                change: "connected".into(),
                account,
            };
            let _ = ctx.try_audit(&actor, event).await;
            None
        }
        Ok(r) => Some(
            r["error"]
                .as_str()
                .and_then(ConnectError::parse)
                .unwrap_or(ConnectError::Google),
        ),
        Err(e) => {
            console_warn!("gmail connect: mailbox unavailable ({e})");
            Some(ConnectError::Google)
        }
    };
    Ok(back_to_console(error))
}

/// `POST /api/gmail/sync`: a pass now.
pub async fn sync_now(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    ctx.require_admin(&req).await?;
    if ctx.settings.gmail.is_none() {
        return Err(not_configured());
    }
    let reply = ctx
        .mailbox()
        .call(&MailboxCall::SyncNow)
        .await
        .or_unavailable("Gmail mailbox")?;
    Ok(json(200, &reply))
}

/// `POST /api/gmail/disconnect`: stops the watch, revokes and forgets the tokens.
pub async fn disconnect(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let admin = ctx.require_admin(&req).await?;
    if ctx.settings.gmail.is_none() {
        return Err(not_configured());
    }
    let reply = ctx
        .mailbox()
        .call(&MailboxCall::Disconnect)
        .await
        .or_unavailable("Gmail mailbox")?;
    if let Some(address) = reply["email_address"].as_str() {
        let event = AuditEvent::GmailChanged {
            change: "disconnected".into(),
            account: mask_address(address),
        };
        ctx.audit(&req, &admin, event).await;
    }
    Ok(json(
        200,
        &json!({"success": true, "status": reply["status"].clone()}),
    ))
}
