//! r2-fetch: the sub-worker that copies provider files into R2 (filled in by the R2 offload work).
use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::from_json(&serde_json::json!({"success": false, "error": "not_implemented"}))
        .map(|r| r.with_status(501))
}
