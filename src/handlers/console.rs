//! The console's pages and files, served from the `ASSETS` binding (Workers Static Assets, the
//! worker running first so it decides access and adds the security headers), and the request
//! of "send a test e-mail", which goes through the ingest itself (and is audited).

use serde_json::Value;
use worker::{console_error, Headers, Method, Request, RequestInit, Response};

use crate::adapters::net::now_ms;
use crate::context::{Admin, Ctx};
use crate::http::{see_other, with_headers};
use facteur_core::config::vars;
use facteur_core::error::ApiError;
use facteur_core::operator::console::Page;
use facteur_core::operator::console::{page_file, test_email};
use facteur_core::operator::session::request_origin;
use facteur_core::records::audit::AuditEvent;

/// `GET` a page: the sign-in page for visitors, the console's shell for a signed-in operator;
/// anyone else is sent to `/login` (a signed-in operator on `/login`, to the overview).
pub async fn page(ctx: &Ctx, req: Request, page: Page) -> Result<Response, ApiError> {
    let signed_in = ctx.session(&req).await?.is_some();
    match (&page, signed_in) {
        (Page::SignIn, true) => return Ok(see_other("/")),
        (Page::SignIn, false) | (_, true) => {}
        (_, false) => return Ok(see_other("/login")),
    }
    let resp = file(ctx, &req, page_file(&page)).await?;
    // The shell is tiny and access-checked: never kept by a cache.
    Ok(with_headers(resp, &[("Cache-Control", "no-store")]))
}

/// `GET /assets/<name>`: a static file (no data in it, served to anyone).
pub async fn asset(ctx: &Ctx, req: Request, name: &str) -> Result<Response, ApiError> {
    file(ctx, &req, &format!("/assets/{name}")).await
}

/// Fetches one file from the assets binding, passing on `If-None-Match` for a 304.
async fn file(ctx: &Ctx, req: &Request, path: &str) -> Result<Response, ApiError> {
    let assets = ctx.assets()?;
    let origin = request_origin(&req.inner().url()).unwrap_or_else(|| "https://assets".into());
    let headers = Headers::new();
    if let Ok(Some(tag)) = req.headers().get("If-None-Match") {
        let _ = headers.set("If-None-Match", &tag);
    }
    let mut init = RequestInit::new();
    init.with_method(if req.method() == Method::Head {
        Method::Head
    } else {
        Method::Get
    })
    .with_headers(headers);
    let resp = assets
        .fetch(format!("{origin}{path}"), Some(init))
        .await
        .map_err(|e| {
            console_error!("assets {path}: {e}");
            ApiError::unavailable("Console files")
        })?;
    match resp.status_code() {
        200 | 304 => Ok(resp),
        404 => Err(ApiError::not_found(path)),
        other => {
            console_error!("assets {path}: answered {other}");
            Err(ApiError::unavailable("Console files"))
        }
    }
}

/// The ingest request of "send a test e-mail": the sample e-mail with the ingest's own token,
/// so it takes exactly the path (and the guarantees) of a pushed e-mail, from the operator's
/// own address (`CF-Connecting-IP` of `req`).
pub fn test_email_request(ctx: &Ctx, req: &Request) -> Result<Request, ApiError> {
    let token = &ctx.settings.process_api_token;
    if token.is_empty() {
        return Err(ApiError::misconfigured(format!(
            "{} is not set: the ingest is closed, so no test e-mail can go through it",
            vars::PROCESS_API_TOKEN
        )));
    }
    let headers = Headers::new();
    let _ = headers.set("Authorization", &format!("Bearer {token}"));
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("CF-Connecting-IP", &ctx.client(req));
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(test_email(now_ms()).to_string().into()));
    Request::new_with_init("https://facteur.internal/api/ingress/gmail", &init)
        .map_err(|_| ApiError::internal())
}

/// Audits a test e-mail with the ingest's answer (its e-mail id and status, or the error's
/// code), and passes the answer on.
pub async fn audit_test_email(
    ctx: &Ctx,
    req: &Request,
    admin: &Admin,
    mut sent: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let (email_id, status) = match &mut sent {
        Ok(resp) => {
            let body: Value = match resp.cloned() {
                Ok(mut copy) => copy.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let text = |k: &str| {
                body.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (text("email_id"), text("status"))
        }
        Err(e) => (String::new(), e.code.as_str().to_string()),
    };
    ctx.audit(req, admin, AuditEvent::TestEmailSent { email_id, status })
        .await;
    sent
}
