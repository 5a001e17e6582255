//! R2 offload decisions (SPEC §10): source normalisation, object keys, per-link timeouts, link
//! pairs, cleanup cut-off, and the request/response of the r2-fetch worker.

use serde::{Deserialize, Serialize};

use crate::analysis::payload::DeliveryLink;
use crate::base::ids::sha256_hex;

/// KV key of the last R2 cleanup report (`ok` tells success from failure; `/health` shows only
/// that, as [`cleanup_status`]).
pub const LAST_CLEANUP_KEY: &str = "r2:last_cleanup";

/// The status word of the last R2 cleanup from its saved report: `ok`, `failed`, `never` (none
/// saved) or `unknown` (unreadable). Reports saved before `ok` existed were successes.
pub fn cleanup_status(saved: Option<&str>) -> &'static str {
    let Some(text) = saved else {
        return "never";
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => match v.get("ok") {
            Some(serde_json::Value::Bool(false)) => "failed",
            _ if v.get("report").is_some() || v.get("ok").is_some() => "ok",
            _ => "unknown",
        },
        Err(_) => "unknown",
    }
}

/// Whether a cleanup run's report replaces the saved one (`previous`): when the run failed or
/// deleted something, when the saved one says otherwise or is unreadable, or when it is older
/// than a day. The cleanup runs every hour; rewriting an unchanged report each time would spend
/// 24 of the Free plan's 1,000 daily KV writes on nothing.
pub fn cleanup_report_worth_saving(
    previous: Option<&str>,
    ok: bool,
    deleted: u64,
    now_ms: i64,
) -> bool {
    if !ok || deleted > 0 {
        return true;
    }
    let Some(v) = previous.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()) else {
        return true;
    };
    let was_ok = v.get("ok").and_then(|o| o.as_bool()) != Some(false);
    let saved_at = v
        .get("at")
        .and_then(|a| a.as_str())
        .and_then(crate::base::time::parse_iso);
    !was_ok || saved_at.is_none_or(|at| now_ms - at >= 86_400_000)
}

/// Links of one e-mail offloaded at the same time. Small and fixed: each offload holds one of
/// the invocation's few simultaneous connections (Workers allow six) for up to its timeout, and
/// reads and writes its link pair in the stores.
pub const OFFLOAD_CONCURRENCY: usize = 4;

/// Timeout of one link, Dropbox folders (zipped on the fly, slow to start) excepted.
pub const DEFAULT_LINK_TIMEOUT_MS: u64 = 15_000;
/// Timeout of a Dropbox folder link.
pub const DEFAULT_FOLDER_TIMEOUT_MS: u64 = 120_000;

/// Splits `scheme://host/path?query#fragment` without a URL crate; `None` when not absolute.
fn split(url: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (host, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    (!host.is_empty()).then_some((scheme, host, path, query))
}

/// The canonical source of a link, so the same file maps to the same object however the link
/// was written. Dropbox: `https`, lowercase host, every `dl` parameter dropped, `dl=1` added,
/// parameters sorted. Other providers: the URL as extracted.
pub fn normalize_source(provider: &str, url: &str) -> String {
    if provider != "dropbox" {
        return url.trim().to_string();
    }
    let Some((_, host, path, query)) = split(url) else {
        return url.trim().to_string();
    };
    let mut params: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("dl"))
        .collect();
    params.push("dl=1");
    crate::base::sort::sort(&mut params);
    format!(
        "https://{}{}?{}",
        host.to_ascii_lowercase(),
        path,
        params.join("&")
    )
}

/// True for a Dropbox folder link (downloaded as a ZIP built on the fly).
pub fn is_dropbox_folder(provider: &str, url: &str) -> bool {
    provider == "dropbox"
        && split(url)
            .is_some_and(|(_, _, path, _)| path.starts_with("/scl/fo/") || path.starts_with("/sh/"))
}

/// Last path segment when it has a dot, else `file`.
pub fn key_filename(source: &str) -> String {
    let path = split(source).map_or("", |(_, _, p, _)| p);
    let last = path.rsplit('/').next().unwrap_or("");
    let safe =
        !last.is_empty() && last.contains('.') && last != "." && last != ".." && last.len() <= 200;
    if safe {
        last.to_string()
    } else {
        "file".to_string()
    }
}

/// `<provider>/<sha256[0:8]>/<sha256[8:16]>/<filename>` of a normalised source.
pub fn object_key(provider: &str, source: &str) -> String {
    let h = sha256_hex(source);
    format!(
        "{provider}/{}/{}/{}",
        &h[..8],
        &h[8..16],
        key_filename(source)
    )
}

/// Store key remembering that a source was offloaded (the link pair).
pub fn link_pair_key(source: &str) -> String {
    format!("r:ss:r2_link:{}", sha256_hex(source))
}

/// What the main worker asks r2-fetch for one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffloadRequest {
    pub source_url: String,
    pub key: String,
    pub provider: String,
    pub require_zip: bool,
    pub timeout_ms: u64,
}

/// The part of r2-fetch's success answer the payload uses; also what a link pair stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offloaded {
    pub r2_url: String,
    pub original_filename: String,
}

/// Plans the offload of one link: the request to send, and how long to wait for it.
pub fn plan_offload(
    link: &DeliveryLink,
    link_timeout_ms: u64,
    folder_timeout_ms: u64,
) -> OffloadRequest {
    let source = normalize_source(&link.provider, &link.direct_url);
    let folder = is_dropbox_folder(&link.provider, &source);
    OffloadRequest {
        key: object_key(&link.provider, &source),
        source_url: source,
        provider: link.provider.clone(),
        require_zip: folder,
        timeout_ms: if folder {
            folder_timeout_ms
        } else {
            link_timeout_ms
        },
    }
}

/// Sets `r2_url` and `original_filename` on the links that were offloaded; the others keep
/// their original URLs only.
pub fn apply(links: &mut [DeliveryLink], results: &[Option<Offloaded>]) {
    for (link, result) in links.iter_mut().zip(results) {
        if let Some(r) = result {
            link.r2_url = Some(r.r2_url.clone());
            link.original_filename = Some(r.original_filename.clone());
        }
    }
}

/// Objects uploaded before this instant are deleted by the cleanup job.
pub fn cleanup_cutoff(now_ms: i64, retention_hours: u32) -> i64 {
    now_ms - i64::from(retention_hours) * 3_600_000
}

/// Objects a page of r2-fetch's cleanup listing holds (its `DELETE_BATCH`).
pub const CLEANUP_PAGE: u64 = 1_000;

/// The R2 list calls (class A operations) a cleanup that scanned `scanned` objects made: one
/// per page, and one for an empty bucket.
pub fn cleanup_list_pages(scanned: u64) -> u64 {
    scanned.div_ceil(CLEANUP_PAGE).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleanup_lists_a_page_per_thousand_objects() {
        let table = [(0, 1), (1, 1), (1_000, 1), (1_001, 2), (25_000, 25)];
        for (scanned, pages) in table {
            assert_eq!(cleanup_list_pages(scanned), pages, "{scanned}");
        }
    }

    #[test]
    fn an_unchanged_cleanup_report_is_saved_once_a_day() {
        let now = 1_800_000_000_000;
        let saved = |at: i64, ok: bool| {
            format!(
                r#"{{"ok":{ok},"at":"{}","report":{{"deleted":0}}}}"#,
                crate::base::time::iso_utc(at)
            )
        };
        let hour_ago = saved(now - 3_600_000, true);
        assert!(!cleanup_report_worth_saving(Some(&hour_ago), true, 0, now));
        assert!(
            cleanup_report_worth_saving(Some(&hour_ago), true, 3, now),
            "deleted some"
        );
        assert!(
            cleanup_report_worth_saving(Some(&hour_ago), false, 0, now),
            "failed"
        );
        let failed = saved(now - 3_600_000, false);
        assert!(
            cleanup_report_worth_saving(Some(&failed), true, 0, now),
            "ok again"
        );
        let old = saved(now - 86_400_000, true);
        assert!(
            cleanup_report_worth_saving(Some(&old), true, 0, now),
            "a day old"
        );
        assert!(cleanup_report_worth_saving(None, true, 0, now));
        assert!(cleanup_report_worth_saving(Some("{"), true, 0, now));
    }

    #[test]
    fn cleanup_status_words() {
        assert_eq!(cleanup_status(None), "never");
        assert_eq!(
            cleanup_status(Some(r#"{"ok":true,"report":{"keys":["a/b.zip"]}}"#)),
            "ok"
        );
        assert_eq!(
            cleanup_status(Some(r#"{"at":"x","report":{"deleted":1}}"#)),
            "ok"
        );
        assert_eq!(cleanup_status(Some(r#"{"ok":false}"#)), "failed");
        assert_eq!(cleanup_status(Some("{not json")), "unknown");
        assert_eq!(cleanup_status(Some("{}")), "unknown");
    }

    fn link(provider: &str, url: &str) -> DeliveryLink {
        DeliveryLink {
            provider: provider.into(),
            raw_url: url.into(),
            direct_url: url.into(),
            r2_url: None,
            original_filename: None,
        }
    }

    #[test]
    fn dropbox_sources_normalise() {
        let a = normalize_source(
            "dropbox",
            "http://WWW.Dropbox.com/scl/fi/x/photo.jpg?rlkey=k&dl=0",
        );
        assert_eq!(a, "https://www.dropbox.com/scl/fi/x/photo.jpg?dl=1&rlkey=k");
        let b = normalize_source(
            "dropbox",
            "https://www.dropbox.com/scl/fi/x/photo.jpg?dl=1&dl=0&rlkey=k",
        );
        assert_eq!(a, b, "every dl dropped, one dl=1 added");
        assert_eq!(
            normalize_source("dropbox", "https://www.dropbox.com/s/abc/f.zip"),
            "https://www.dropbox.com/s/abc/f.zip?dl=1"
        );
        assert_eq!(
            normalize_source(
                "dropbox",
                "https://www.dropbox.com/s/abc/f.zip?z=1&a=2#frag"
            ),
            "https://www.dropbox.com/s/abc/f.zip?a=2&dl=1&z=1"
        );
        assert_eq!(
            normalize_source("fromsmash", " https://fromsmash.com/ABC "),
            "https://fromsmash.com/ABC"
        );
    }

    #[test]
    fn keys_and_filenames() {
        let src = "https://www.dropbox.com/s/abc/61%20Camille.zip?dl=1";
        let key = object_key("dropbox", src);
        let h = sha256_hex(src);
        assert_eq!(
            key,
            format!("dropbox/{}/{}/61%20Camille.zip", &h[..8], &h[8..16])
        );
        assert_eq!(key_filename("https://fromsmash.com/ABC"), "file");
        assert_eq!(key_filename("https://x.com/"), "file");
        assert_eq!(key_filename("https://x.com/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_ne!(
            object_key("dropbox", src),
            object_key(
                "dropbox",
                "https://www.dropbox.com/s/abd/61%20Camille.zip?dl=1"
            )
        );
    }

    #[test]
    fn folders_get_the_long_timeout_and_the_zip_check() {
        let folder = plan_offload(
            &link("dropbox", "https://www.dropbox.com/scl/fo/a/b?rlkey=k&dl=0"),
            15_000,
            120_000,
        );
        assert!(folder.require_zip);
        assert_eq!(folder.timeout_ms, 120_000);
        assert_eq!(
            folder.source_url,
            "https://www.dropbox.com/scl/fo/a/b?dl=1&rlkey=k"
        );
        let file = plan_offload(
            &link("dropbox", "https://www.dropbox.com/scl/fi/a/b.jpg?dl=1"),
            15_000,
            120_000,
        );
        assert!(!file.require_zip);
        assert_eq!(file.timeout_ms, 15_000);
        let smash = plan_offload(
            &link("fromsmash", "https://fromsmash.com/x"),
            15_000,
            120_000,
        );
        assert!(!smash.require_zip);
    }

    #[test]
    fn results_apply_to_their_links_only() {
        let mut links = vec![link("dropbox", "https://a"), link("fromsmash", "https://b")];
        apply(
            &mut links,
            &[
                Some(Offloaded {
                    r2_url: "https://m/k".into(),
                    original_filename: "a.zip".into(),
                }),
                None,
            ],
        );
        assert_eq!(links[0].r2_url.as_deref(), Some("https://m/k"));
        assert_eq!(links[0].original_filename.as_deref(), Some("a.zip"));
        assert!(links[1].r2_url.is_none() && links[1].original_filename.is_none());
        assert_eq!(links[1].raw_url, "https://b");
    }

    #[test]
    fn cutoff() {
        assert_eq!(cleanup_cutoff(10 * 3_600_000, 24), -14 * 3_600_000);
        assert_eq!(cleanup_cutoff(100 * 3_600_000, 1), 99 * 3_600_000);
    }
}
