//! What is stored with an object and what is answered about it: custom metadata, the public
//! URL, the success and cleanup bodies.

use serde::Serialize;

use crate::consts::{meta, REPORTED_KEYS};
use crate::pct;

/// `customMetadata` of a new object, as (name, value) pairs.
pub fn custom_metadata(
    filename: &str,
    provider: &str,
    source_url: &str,
    uploaded_at_ms: u64,
) -> Vec<(String, String)> {
    vec![
        (meta::ORIGINAL_FILENAME.into(), filename.into()),
        (meta::PROVIDER.into(), provider.into()),
        (meta::SOURCE_URL.into(), source_url.into()),
        (meta::UPLOADED_AT.into(), iso_utc(uploaded_at_ms)),
    ]
}

/// The public URL of `key`: `<base>/<key>`, each key segment percent-encoded so any key
/// gives a valid URL (plain keys come out unchanged).
pub fn r2_url(base: &str, key: &str) -> String {
    let encoded: Vec<String> = key
        .split('/')
        .map(|s| pct::encode(s, b"!$&'()*+,;=:@"))
        .collect();
    format!("{}/{}", base.trim_end_matches('/'), encoded.join("/"))
}

/// Unix milliseconds as ISO 8601 UTC with milliseconds (`2026-11-28T09:05:03.120Z`).
pub fn iso_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The body of a successful `/fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchSuccess {
    /// Always `true`.
    pub success: bool,
    /// Public URL of the object.
    pub r2_url: String,
    /// Object key.
    pub key: String,
    /// Filename taken from the source.
    pub original_filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Stored content type.
    pub content_type: String,
    /// The object already existed and nothing was fetched.
    pub reused: bool,
    /// Size of the worker's wasm linear memory after the copy: it stays a few MiB whatever
    /// the file size, which is how operators (and the tests) see that nothing was buffered.
    pub wasm_memory_bytes: u64,
}

/// Tallies a cleanup run: the body of a successful `/cleanup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Always `true` once answered.
    pub success: bool,
    /// Objects deleted.
    pub deleted: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The first [`REPORTED_KEYS`] deleted keys.
    pub keys: Vec<String>,
    /// Objects looked at.
    pub scanned: u64,
}

impl CleanupReport {
    /// Whether an object uploaded at `uploaded_ms` is older than the cutoff.
    pub fn is_expired(uploaded_ms: u64, older_than_ms: u64) -> bool {
        uploaded_ms < older_than_ms
    }

    /// Counts an object looked at.
    pub fn scanned(&mut self) {
        self.scanned += 1;
    }

    /// Counts a deleted object.
    pub fn deleted(&mut self, key: &str, size: u64) {
        self.deleted += 1;
        self.bytes += size;
        if self.keys.len() < REPORTED_KEYS {
            self.keys.push(key.to_string());
        }
    }

    /// The final body.
    pub fn finish(mut self) -> Self {
        self.success = true;
        self
    }
}

/// The body of a successful `/delete`: the keys that existed, and are gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    /// Always `true` once answered.
    pub success: bool,
    /// Objects deleted (keys asked for that did not exist are not counted).
    pub deleted: u64,
    /// Their keys.
    pub keys: Vec<String>,
}

impl DeleteReport {
    /// The answer once `existing` were deleted.
    pub fn of(existing: Vec<String>) -> Self {
        DeleteReport {
            success: true,
            deleted: existing.len() as u64,
            keys: existing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_utc(1_803_511_503_120), "2027-02-24T23:25:03.120Z");
        assert_eq!(iso_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            r2_url("https://m.test", "dropbox/1a/2b/file.zip"),
            "https://m.test/dropbox/1a/2b/file.zip"
        );
        assert_eq!(
            r2_url("https://m.test/", "a/My File €.zip"),
            "https://m.test/a/My%20File%20%E2%82%AC.zip"
        );
        assert_eq!(
            r2_url("https://m.test", "a/b#c?.zip"),
            "https://m.test/a/b%23c%3F.zip"
        );
    }

    #[test]
    fn metadata_pairs() {
        let m = custom_metadata("a.zip", "dropbox", "https://www.dropbox.com/s/a.zip", 0);
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["originalFilename", "provider", "sourceUrl", "uploadedAt"]
        );
        assert_eq!(m[3].1, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn success_body() {
        let s = FetchSuccess {
            success: true,
            r2_url: "https://m.test/k".into(),
            key: "k".into(),
            original_filename: "a.zip".into(),
            size: 3,
            content_type: "application/zip".into(),
            reused: false,
            wasm_memory_bytes: 0,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"success": true, "r2_url": "https://m.test/k", "key": "k", "original_filename": "a.zip",
                   "size": 3, "content_type": "application/zip", "reused": false, "wasm_memory_bytes": 0})
        );
    }

    #[test]
    fn delete_report() {
        let r = DeleteReport::of(vec!["a".into(), "b".into()]);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"success": true, "deleted": 2, "keys": ["a", "b"]})
        );
        assert_eq!(DeleteReport::of(vec![]).deleted, 0);
    }

    #[test]
    fn cleanup_tally() {
        assert!(CleanupReport::is_expired(99, 100));
        assert!(!CleanupReport::is_expired(100, 100));
        let mut r = CleanupReport::default();
        for i in 0..150 {
            r.scanned();
            if i % 3 != 0 {
                r.deleted(&format!("k{i}"), 10);
            }
        }
        r.scanned();
        let r = r.finish();
        assert!(r.success);
        assert_eq!(
            (r.deleted, r.bytes, r.scanned, r.keys.len()),
            (100, 1000, 151, 100)
        );
        assert_eq!(r.keys[0], "k1");
    }
}
