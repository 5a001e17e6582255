//! The HTTP contract as the main worker sees it, through the crate's public pure API: the
//! documented request parses, every error code keeps its status, and a Dropbox folder link
//! redirected to dropboxusercontent.com gets its filename from the header.

use r2_fetch::error::{ApiError, Code};
use r2_fetch::{filename, metadata, policy, request, routing};
use serde_json::json;
use url::Url;

#[test]
fn documented_request_is_accepted() {
    let body = json!({
        "source_url": "https://www.dropbox.com/scl/fo/abc123/xyz?dl=1&rlkey=k",
        "key": "dropbox/1a2b3c4d/5e6f7a8b/file.zip",
        "provider": "dropbox",
        "require_zip": true,
        "timeout_ms": 15000
    });
    let req = request::parse_fetch(&body.to_string()).unwrap();
    assert_eq!(req.key, "dropbox/1a2b3c4d/5e6f7a8b/file.zip");
    assert_eq!(
        metadata::r2_url("https://media.example.com/", &req.key),
        "https://media.example.com/dropbox/1a2b3c4d/5e6f7a8b/file.zip"
    );
}

#[test]
fn error_table() {
    let table = [
        (Code::Unauthorized, 401),
        (Code::MethodNotAllowed, 405),
        (Code::NotFound, 404),
        (Code::InvalidRequest, 400),
        (Code::HostNotAllowed, 403),
        (Code::SourceTimeout, 504),
        (Code::SourceUnreachable, 502),
        (Code::SourceStatus, 502),
        (Code::NotAFile, 422),
        (Code::NotZip, 422),
        (Code::TooLarge, 413),
        (Code::SourceTruncated, 502),
        (Code::StorageError, 500),
    ];
    for (code, status) in table {
        let body = ApiError::new(code, "m").body();
        assert_eq!(body["success"], json!(false));
        assert_eq!(body["code"], json!(code.as_str()));
        assert_eq!(code.status(), status);
    }
}

#[test]
fn dropbox_folder_flow() {
    let first = policy::check_source_url("https://www.dropbox.com/scl/fo/abc?dl=1").unwrap();
    let hop = policy::check_redirect(
        &first,
        "https://ucabc.dl.dropboxusercontent.com/zip_download_get/Q?_download_id=1",
    )
    .unwrap();
    let head =
        policy::check_source_head(200, Some("application/zip"), None, None, 2 << 30).unwrap();
    assert_eq!(head.length, None);
    let name = filename::choose(
        Some("attachment; filename=\"Photos.zip\"; filename*=UTF-8''Photos.zip"),
        &hop,
    );
    assert_eq!(name, "Photos.zip");
    assert_eq!(
        filename::choose(
            None,
            &Url::parse("https://www.dropbox.com/scl/fo/abc").unwrap()
        ),
        "file"
    );
}

#[test]
fn routes_need_the_right_method_first() {
    assert_eq!(
        routing::route("GET", "/fetch", false).unwrap_err().code,
        Code::MethodNotAllowed
    );
    assert_eq!(
        routing::route("GET", "/media/a.zip", false)
            .unwrap_err()
            .code,
        Code::NotFound
    );
}

#[test]
fn delete_takes_the_keys_fetch_writes() {
    let body = json!({"keys": ["dropbox/1a2b3c4d/5e6f7a8b/file.zip"]});
    let req = request::parse_delete(&body.to_string()).unwrap();
    assert_eq!(req.keys, ["dropbox/1a2b3c4d/5e6f7a8b/file.zip"]);
    assert_eq!(
        routing::route("GET", "/delete", false).unwrap_err().code,
        Code::MethodNotAllowed
    );
    assert!(routing::route("POST", "/delete", false)
        .unwrap()
        .needs_token());
}
