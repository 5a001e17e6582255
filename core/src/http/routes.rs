//! The HTTP surface: the route table and query-string parsing, as pure functions.

use crate::base::query::decode_segment;
use crate::config::ConfigDoc;
use crate::error::ApiError;
use crate::operator::console::Page;

/// Every endpoint the main worker serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Ingest,
    WebhookLogs,
    ConfigGet(ConfigDoc),
    ConfigPut(ConfigDoc),
    DryRun,
    DeadLetters,
    DeadLetterReplay(String),
    /// `GET /api/targets`: every target with its health.
    Targets,
    /// `POST /api/targets/<id>/pause` (`true`) or `/resume` (`false`).
    TargetAction {
        id: String,
        pause: bool,
    },
    /// `GET /api/alerts`: which alert conditions are firing.
    Alerts,
    /// `GET /api/runtime`: this isolate's wasm memory (its high-water mark).
    Runtime,
    /// `POST /api/deliveries/<delivery_id>/replay`: send an archived delivery again.
    DeliveryReplay(String),
    /// `POST /api/deliveries/replay[?dry_run=true]`: replay every past delivery a filter selects.
    DeliveriesReplay,
    /// `DELETE /api/emails/<email_id>`: erase everything stored about an e-mail.
    EraseEmail(String),
    /// `DELETE /api/senders/<address>`: erase everything stored about a sender's e-mails.
    EraseSender(String),
    /// `GET /api/audit`: the audit trail of every change (filters in the query).
    Audit,
    Stats,
    /// `GET /media/<key>`: R2 objects, served locally when `R2_SERVE_MEDIA` is on.
    Media(String),
    /// `GET /api/session`: who is signed in (the session, or the bearer token).
    SessionInfo,
    /// `POST /api/session`: sign in to the console with the password.
    SignIn,
    /// `DELETE /api/session`: sign out (the session ends everywhere).
    SignOut,
    /// `GET /api/overview`: health, figures of 24 h and 7 days, hourly chart, alert states.
    Overview,
    /// `GET /api/emails/<email_id>`: the timeline of one e-mail.
    EmailTimeline(String),
    /// `GET /api/settings`: the gating documents, each field with its source.
    SettingsView,
    /// `POST /api/dead_letters/replay[?dry_run=true]`: replay every dead letter a filter selects.
    DeadLettersReplay,
    /// `POST /api/test/email`: push a sample e-mail through the ingest.
    TestEmail,
    /// `POST /api/gmail/push`: a Gmail notification pushed by Pub/Sub (its OIDC token).
    GmailPush,
    /// `GET /api/gmail`: the connected mailbox, its watch and its sync.
    GmailStatus,
    /// `POST /api/gmail/connect`: starts connecting a mailbox (answers Google's consent URL).
    GmailConnect,
    /// `GET /gmail/callback`: Google's redirect back, with the code (a page: it moves on to
    /// `/gmail`).
    GmailCallback,
    /// `POST /api/gmail/sync`: a sync pass now.
    GmailSync,
    /// `POST /api/gmail/disconnect`: stops the watch and forgets the tokens.
    GmailDisconnect,
    /// A page of the console (the HTML shell; the page itself asks the API).
    Page(Page),
    /// `GET /assets/<file>`: the console's static files.
    Asset(String),
}

/// The page at `path`, if it is one.
fn page(path: &str) -> Option<Page> {
    Some(match path {
        "/" => Page::Overview,
        "/login" => Page::SignIn,
        "/deliveries" => Page::Deliveries,
        "/dead-letters" => Page::DeadLetters,
        "/settings" => Page::Settings,
        "/rules" => Page::Rules,
        "/targets" => Page::Targets,
        "/audit" => Page::Audit,
        "/gmail" => Page::Gmail,
        _ => {
            let id = path.strip_prefix("/emails/")?;
            let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
            return hex.then(|| Page::Email(id.to_ascii_lowercase()));
        }
    })
}

/// True for a file name the console's assets can have: lowercase letters, digits, `-`, `_`,
/// one extension among the served types; never a path.
fn asset_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let stem_ok = !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    stem_ok && ["js", "css", "svg", "png", "woff2"].contains(&ext)
}

/// Longest id in a path (`dlv_…`, `email_…`, `raw_…` are 20 to 38 characters): a longer one
/// names nothing, and stores refuse long keys (KV: 512 bytes) with an error that is not a 404.
pub const MAX_PATH_ID_CHARS: usize = 64;
/// Longest media key (R2 keys are at most 1,024 bytes).
pub const MAX_MEDIA_KEY_BYTES: usize = 1_024;

/// Whether `id` can be the id of a dead letter or a delivery: ASCII letters, digits, `_` and
/// `-`, at most [`MAX_PATH_ID_CHARS`].
fn is_path_id(id: &str) -> bool {
    (1..=MAX_PATH_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Resolves a method and path to a route: unknown paths are 404, known paths with another
/// method are 405. A path whose id cannot exist (see [`is_path_id`]) is 404 without a store
/// being asked.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let method_is = |m: &str| method.eq_ignore_ascii_case(m);
    let only = |allowed: &'static str, r: Route| {
        if method_is(allowed) || (allowed == "GET" && method_is("HEAD")) {
            Ok(r)
        } else {
            Err(ApiError::method_not_allowed(method, &[allowed]))
        }
    };
    match path {
        "/health" => only("GET", Route::Health),
        "/api/ingress/gmail" => only("POST", Route::Ingest),
        "/api/webhook_logs" => only("GET", Route::WebhookLogs),
        "/api/test/dry_run" => only("POST", Route::DryRun),
        "/api/dead_letters" => only("GET", Route::DeadLetters),
        "/api/stats" => only("GET", Route::Stats),
        "/api/overview" => only("GET", Route::Overview),
        "/api/settings" => only("GET", Route::SettingsView),
        "/api/dead_letters/replay" => only("POST", Route::DeadLettersReplay),
        "/api/test/email" => only("POST", Route::TestEmail),
        "/api/session" => match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" => Ok(Route::SessionInfo),
            "POST" => Ok(Route::SignIn),
            "DELETE" => Ok(Route::SignOut),
            _ => Err(ApiError::method_not_allowed(
                method,
                &["GET", "POST", "DELETE"],
            )),
        },
        "/api/runtime" => only("GET", Route::Runtime),
        "/api/targets" => only("GET", Route::Targets),
        "/api/alerts" => only("GET", Route::Alerts),
        "/api/deliveries/replay" => only("POST", Route::DeliveriesReplay),
        "/api/audit" => only("GET", Route::Audit),
        "/api/gmail/push" => only("POST", Route::GmailPush),
        "/api/gmail" => only("GET", Route::GmailStatus),
        "/api/gmail/connect" => only("POST", Route::GmailConnect),
        "/gmail/callback" => only("GET", Route::GmailCallback),
        "/api/gmail/sync" => only("POST", Route::GmailSync),
        "/api/gmail/disconnect" => only("POST", Route::GmailDisconnect),
        _ => {
            if let Some(doc) = ConfigDoc::ALL
                .iter()
                .find(|d| path == format!("/api/{}", d.name()))
            {
                return if method_is("GET") || method_is("HEAD") {
                    Ok(Route::ConfigGet(*doc))
                } else if method_is("PUT") || method_is("POST") {
                    Ok(Route::ConfigPut(*doc))
                } else {
                    Err(ApiError::method_not_allowed(
                        method,
                        &["GET", "PUT", "POST"],
                    ))
                };
            }
            if let Some(p) = page(path) {
                return only("GET", Route::Page(p));
            }
            if let Some(name) = path.strip_prefix("/assets/").filter(|n| asset_name(n)) {
                return only("GET", Route::Asset(name.to_string()));
            }
            if let Some(id) = path
                .strip_prefix("/api/emails/")
                .filter(|id| !id.contains('/'))
            {
                // GET: the e-mail's timeline; DELETE: its erasure.
                return match method.to_ascii_uppercase().as_str() {
                    "GET" | "HEAD" if is_path_id(id) => Ok(Route::EmailTimeline(id.to_string())),
                    "GET" | "HEAD" => Err(ApiError::not_found(path)),
                    "DELETE" => Ok(Route::EraseEmail(decode_segment(id))),
                    _ => Err(ApiError::method_not_allowed(method, &["GET", "DELETE"])),
                };
            }
            if let Some(key) = path
                .strip_prefix("/media/")
                .filter(|k| !k.is_empty() && k.len() <= MAX_MEDIA_KEY_BYTES)
            {
                return only("GET", Route::Media(key.to_string()));
            }
            if let Some(rest) = path.strip_prefix("/api/targets/") {
                let action = rest.split_once('/').filter(|(id, _)| is_path_id(id));
                match action {
                    Some((id, "pause")) => {
                        let id = id.to_string();
                        return only("POST", Route::TargetAction { id, pause: true });
                    }
                    Some((id, "resume")) => {
                        let id = id.to_string();
                        return only("POST", Route::TargetAction { id, pause: false });
                    }
                    _ => {}
                }
            }
            if let Some(rest) = path.strip_prefix("/api/deliveries/") {
                if let Some(id) = rest.strip_suffix("/replay").filter(|id| is_path_id(id)) {
                    return only("POST", Route::DeliveryReplay(id.to_string()));
                }
            }
            if let Some(who) = path
                .strip_prefix("/api/senders/")
                .filter(|a| !a.contains('/'))
            {
                return only("DELETE", Route::EraseSender(decode_segment(who)));
            }
            if let Some(rest) = path.strip_prefix("/api/dead_letters/") {
                if let Some(id) = rest.strip_suffix("/replay").filter(|id| is_path_id(id)) {
                    return only("POST", Route::DeadLetterReplay(id.to_string()));
                }
            }
            Err(ApiError::not_found(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(route("POST", "/api/ingress/gmail"), Ok(Route::Ingest));
        assert_eq!(
            route("GET", "/api/ingress/gmail").unwrap_err().status(),
            405
        );
        assert_eq!(route("GET", "/nope").unwrap_err().status(), 404);
        assert_eq!(route("GET", "/health"), Ok(Route::Health));
        assert_eq!(
            route("GET", "/api/webhook_config"),
            Ok(Route::ConfigGet(ConfigDoc::WebhookConfig))
        );
        assert_eq!(
            route("PUT", "/api/routing_rules"),
            Ok(Route::ConfigPut(ConfigDoc::RoutingRules))
        );
        assert_eq!(
            route("DELETE", "/api/runtime_flags").unwrap_err().status(),
            405
        );
        assert_eq!(
            route("POST", "/api/dead_letters/dlv_abc/replay"),
            Ok(Route::DeadLetterReplay("dlv_abc".into()))
        );
        assert_eq!(
            route("POST", "/api/dead_letters/a/b/replay")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            route("POST", "/api/deliveries/dlv_abc/replay"),
            Ok(Route::DeliveryReplay("dlv_abc".into()))
        );
        assert_eq!(
            route("GET", "/api/deliveries/dlv_abc/replay")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            route("POST", "/api/targets/tgt_1/pause"),
            Ok(Route::TargetAction {
                id: "tgt_1".into(),
                pause: true
            })
        );
        assert_eq!(
            route("GET", "/api/targets/tgt_1/resume")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            route("POST", "/api/targets/tgt_1/x").unwrap_err().status(),
            404
        );
        assert_eq!(route("GET", "/api/webhook_logs/"), Ok(Route::WebhookLogs));
        assert_eq!(
            route("GET", "/media/dropbox/a/b/f.zip"),
            Ok(Route::Media("dropbox/a/b/f.zip".into()))
        );
        assert_eq!(route("GET", "/media/").unwrap_err().status(), 404);
        assert_eq!(
            route("POST", "/api/deliveries/replay"),
            Ok(Route::DeliveriesReplay)
        );
        assert_eq!(
            route("GET", "/api/deliveries/replay").unwrap_err().status(),
            405
        );
        assert_eq!(
            route("DELETE", "/api/emails/abc"),
            Ok(Route::EraseEmail("abc".into()))
        );
        assert_eq!(
            route("GET", "/api/emails/abc"),
            Ok(Route::EmailTimeline("abc".into()))
        );
        assert_eq!(route("PUT", "/api/emails/abc").unwrap_err().status(), 405);
        assert_eq!(
            route("DELETE", "/api/emails/a/b").unwrap_err().status(),
            404
        );
        assert_eq!(
            route("DELETE", "/api/senders/jane+tag%40example.com"),
            Ok(Route::EraseSender("jane+tag@example.com".into()))
        );
        assert_eq!(route("GET", "/api/audit"), Ok(Route::Audit));
        assert_eq!(route("POST", "/api/gmail/push"), Ok(Route::GmailPush));
        assert_eq!(route("GET", "/api/gmail/push").unwrap_err().status(), 405);
        assert_eq!(route("GET", "/api/gmail"), Ok(Route::GmailStatus));
        assert_eq!(route("POST", "/api/gmail/connect"), Ok(Route::GmailConnect));
        assert_eq!(
            route("GET", crate::intake::gmail::oauth::CALLBACK_PATH),
            Ok(Route::GmailCallback)
        );
        assert_eq!(route("POST", "/api/gmail/sync"), Ok(Route::GmailSync));
        assert_eq!(
            route("POST", "/api/gmail/disconnect"),
            Ok(Route::GmailDisconnect)
        );
        assert_eq!(route("DELETE", "/api/gmail").unwrap_err().status(), 405);
        assert_eq!(route("GET", "/gmail"), Ok(Route::Page(Page::Gmail)));
        assert_eq!(route("DELETE", "/api/audit").unwrap_err().status(), 405);
    }

    #[test]
    fn ids_that_cannot_exist_are_404_before_any_store() {
        for path in [
            format!("/api/dead_letters/{}/replay", "a".repeat(600)),
            format!(
                "/api/deliveries/{}/replay",
                "x".repeat(MAX_PATH_ID_CHARS + 1)
            ),
            "/api/dead_letters/a%2Fb/replay".into(),
            "/api/dead_letters/..%00/replay".into(),
            "/api/deliveries/dlv é/replay".into(),
            format!("/media/{}", "k".repeat(MAX_MEDIA_KEY_BYTES + 1)),
        ] {
            let err = route("POST", &path).unwrap_err();
            assert_eq!(err.status(), 404, "{path}");
        }
        let longest = "i".repeat(MAX_PATH_ID_CHARS);
        assert_eq!(
            route("POST", &format!("/api/dead_letters/{longest}/replay")),
            Ok(Route::DeadLetterReplay(longest))
        );
        assert_eq!(
            route("POST", "/api/dead_letters/email_0123abcd-ef/replay"),
            Ok(Route::DeadLetterReplay("email_0123abcd-ef".into()))
        );
    }

    #[test]
    fn console_routes() {
        let id = "ef626f4a3197550e73b6e5a1b3cdc39e";
        #[rustfmt::skip]
        let table: [(&str, &str, Result<Route, u16>); 27] = [
            ("GET", "/", Ok(Route::Page(Page::Overview))),
            ("HEAD", "/", Ok(Route::Page(Page::Overview))),
            ("POST", "/", Err(405)),
            ("GET", "/login", Ok(Route::Page(Page::SignIn))),
            ("GET", "/deliveries/", Ok(Route::Page(Page::Deliveries))),
            ("GET", "/dead-letters", Ok(Route::Page(Page::DeadLetters))),
            ("GET", "/settings", Ok(Route::Page(Page::Settings))),
            ("GET", "/rules", Ok(Route::Page(Page::Rules))),
            ("GET", "/targets", Ok(Route::Page(Page::Targets))),
            ("GET", "/audit", Ok(Route::Page(Page::Audit))),
            ("DELETE", "/audit", Err(405)),
            ("GET", &format!("/emails/{id}"), Ok(Route::Page(Page::Email(id.into())))),
            ("GET", "/emails/nothex", Err(404)),
            ("GET", "/index.html", Err(404)),
            ("GET", "/assets/app.js", Ok(Route::Asset("app.js".into()))),
            ("GET", "/assets/app-2.css", Ok(Route::Asset("app-2.css".into()))),
            ("GET", "/assets/../wrangler.toml", Err(404)),
            ("GET", "/assets/x/app.js", Err(404)),
            ("GET", "/assets/App.js", Err(404)),
            ("GET", "/assets/.js", Err(404)),
            ("GET", "/assets/app.html", Err(404)),
            ("GET", "/api/session", Ok(Route::SessionInfo)),
            ("POST", "/api/session", Ok(Route::SignIn)),
            ("DELETE", "/api/session", Ok(Route::SignOut)),
            ("PUT", "/api/session", Err(405)),
            ("POST", "/api/dead_letters/replay", Ok(Route::DeadLettersReplay)),
            ("GET", &format!("/api/emails/{id}"), Ok(Route::EmailTimeline(id.into()))),
        ];
        for (method, path, want) in table {
            assert_eq!(
                route(method, path).map_err(|e| e.status()),
                want,
                "{method} {path}"
            );
        }
        assert_eq!(route("GET", "/api/overview"), Ok(Route::Overview));
        assert_eq!(route("GET", "/api/settings"), Ok(Route::SettingsView));
        assert_eq!(route("POST", "/api/test/email"), Ok(Route::TestEmail));
        assert_eq!(route("GET", "/api/emails/a.b").unwrap_err().status(), 404);
        assert_eq!(
            route("POST", "/api/dead_letters/dlv_x/replay"),
            Ok(Route::DeadLetterReplay("dlv_x".into()))
        );
    }
}
