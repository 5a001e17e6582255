//! Opens the source: GET with manual redirects (each hop re-checked against the allowlist)
//! under one deadline for the response headers.

use std::time::Duration;

use futures::future::{select, Either};
use url::Url;
use worker::{
    AbortController, Date, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, ResponseBody,
};

use crate::consts::{headers, MAX_REDIRECTS};
use crate::error::{ApiError, Code};
use crate::policy;

/// The final, non-redirect response and the URL that answered it.
pub struct Opened {
    /// Status and headers received; body not read yet.
    pub response: Response,
    /// The URL after redirects.
    pub url: Url,
}

/// GETs `first`, following up to [`MAX_REDIRECTS`] redirects, all within `timeout_ms`.
pub async fn open(first: &Url, timeout_ms: u64) -> Result<Opened, ApiError> {
    let deadline = Date::now().as_millis().saturating_add(timeout_ms);
    let mut url = first.clone();
    let mut redirects = 0;
    loop {
        let response = send(&url, deadline, timeout_ms).await?;
        let status = response.status_code();
        if !policy::is_redirect(status) {
            return Ok(Opened { response, url });
        }
        let location = response.headers().get("location").ok().flatten();
        discard(response);
        if redirects == MAX_REDIRECTS {
            return Err(ApiError::new(
                Code::SourceUnreachable,
                format!("more than {MAX_REDIRECTS} redirects"),
            ));
        }
        let location = location.ok_or_else(|| {
            ApiError::new(
                Code::SourceStatus,
                format!("the source answered HTTP {status} without a Location"),
            )
        })?;
        url = policy::check_redirect(&url, &location)?;
        redirects += 1;
    }
}

async fn send(url: &Url, deadline: u64, timeout_ms: u64) -> Result<Response, ApiError> {
    let timed_out = || {
        ApiError::new(
            Code::SourceTimeout,
            format!("no answer from the source within {timeout_ms} ms"),
        )
    };
    let remaining = deadline.saturating_sub(Date::now().as_millis());
    if remaining == 0 {
        return Err(timed_out());
    }
    let request = build(url)
        .map_err(|e| ApiError::new(Code::SourceUnreachable, format!("request not built: {e}")))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sending = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(Duration::from_millis(remaining)));
    // Bound to a name so the futures borrowing locals are dropped before those locals.
    #[allow(clippy::let_and_return)]
    let outcome = match select(sending, timer).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => Err(ApiError::new(
            Code::SourceUnreachable,
            format!(
                "{} could not be reached: {e}",
                url.host_str().unwrap_or("the source")
            ),
        )),
        Either::Right(((), _)) => {
            controller.abort();
            Err(timed_out())
        }
    };
    outcome
}

fn build(url: &Url) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("user-agent", headers::USER_AGENT_VALUE)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers);
    Request::new_with_init(url.as_str(), &init)
}

/// Releases a response whose body is not wanted (a redirect's), so its connection is freed now
/// rather than when the garbage collector finds it.
pub fn discard(response: Response) {
    if let ResponseBody::Stream(stream) = response.body() {
        let _ = stream.cancel();
    }
}
