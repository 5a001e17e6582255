//! Field kinds of the gating documents and the value parsers behind them: booleans, times of
//! day, weekday names, webhook URLs (Make.com tokens included). Pure functions on text and JSON.

use serde_json::Value;

use super::names::vars::DEV_ALLOW_HTTP_LOOPBACK;
use super::webhook_url::check_https_url;
use crate::base::json::type_name;

/// Parses `true/false/1/0/yes/no/on/off`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The kind of a document field, which decides its validation and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `true` or `false`.
    Bool,
    /// An `https://` URL, or a Make.com token normalised to one; null clears it.
    OptHttpsUrl,
    /// `HH:MM`, `HHhMM` or `HHh` (kept as written); null or "" clears it.
    OptTimeOfDay,
    /// Weekday names (English or French), normalised to lowercase English.
    Weekdays,
    /// An integer in `min..=max`.
    UInt { min: u64, max: u64 },
    /// A list of at most `max_items` non-empty strings of at most `max_chars` characters each
    /// (each is searched for in every e-mail, whose body can be 25 MB).
    StringList { max_items: usize, max_chars: usize },
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("monday", "lundi"),
    ("tuesday", "mardi"),
    ("wednesday", "mercredi"),
    ("thursday", "jeudi"),
    ("friday", "vendredi"),
    ("saturday", "samedi"),
    ("sunday", "dimanche"),
];

/// Normalises a weekday name (English or French, any case) to lowercase English.
pub fn weekday_name(s: &str) -> Option<&'static str> {
    let s = s.trim().to_lowercase();
    WEEKDAYS
        .iter()
        .find(|(en, fr)| *en == s || *fr == s)
        .map(|(en, _)| *en)
}

/// Parses `HH:MM`, `HHhMM` or `HHh` into minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let s = s.trim();
    let (h, m) = s.split_once(':').or_else(|| s.split_once(['h', 'H']))?;
    let digits = |x: &str, max_len: usize| {
        !x.is_empty() && x.len() <= max_len && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !(m.is_empty() && !s.contains(':') || m.len() == 2 && digits(m, 2)) {
        return None;
    }
    let (h, m): (u32, u32) = (
        h.parse().ok()?,
        if m.is_empty() { 0 } else { m.parse().ok()? },
    );
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Normalises a Make.com token (`abc123` or `abc123@hook.eu2.make.com`) to its https URL;
/// other values are returned trimmed.
pub fn normalize_webhook_url(raw: &str) -> String {
    let s = raw.trim();
    if s.contains("://") {
        return s.to_string();
    }
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match s.split_once('@') {
        Some((token, host))
            if token_ok(token) && host.ends_with("make.com") && !host.contains('/') =>
        {
            format!("https://{host}/{token}")
        }
        None if token_ok(s) => format!("https://hook.eu2.make.com/{s}"),
        _ => s.to_string(),
    }
}

/// Which webhook targets are accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetPolicy {
    /// `https://` only: production.
    #[default]
    HttpsOnly,
    /// Also `http://` on a loopback host (`127.0.0.1`, `localhost`, `[::1]`): local development
    /// with `DEV_ALLOW_HTTP_LOOPBACK`, never production.
    AllowHttpLoopback,
}

impl TargetPolicy {
    /// The policy of a worker whose `DEV_ALLOW_HTTP_LOOPBACK` is `dev`.
    pub fn for_dev_flag(dev: bool) -> TargetPolicy {
        if dev {
            TargetPolicy::AllowHttpLoopback
        } else {
            TargetPolicy::HttpsOnly
        }
    }
}

/// True for `localhost`, `127.x.y.z` and `[::1]` (a port after it is allowed).
pub fn is_loopback_host(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => return v6.split(']').next() == Some("::1"),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let octets: Vec<&str> = host.split('.').collect();
    host.eq_ignore_ascii_case("localhost")
        || (octets.len() == 4
            && octets[0] == "127"
            && octets.iter().all(|o| o.parse::<u8>().is_ok()))
}

/// Checks a webhook target: an https URL with a host, or with [`TargetPolicy::AllowHttpLoopback`]
/// an http URL on a loopback host.
pub fn check_target_url(url: &str, policy: TargetPolicy) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return check_https_url(url);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let loopback = is_loopback_host(authority.rsplit('@').next().unwrap_or(""));
    match (loopback, policy) {
        (true, TargetPolicy::AllowHttpLoopback) => {}
        (true, TargetPolicy::HttpsOnly) => {
            return Err(format!(
                "must be an https:// URL (http:// loopback targets need {DEV_ALLOW_HTTP_LOOPBACK}=true, local development only)"
            ))
        }
        (false, _) => return Err("must be an https:// URL".into()),
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces".into());
    }
    Ok(())
}

impl FieldKind {
    /// Validates and normalises a JSON value (https targets only); `Ok(None)` means "reset to
    /// the default".
    pub fn validate(self, v: &Value) -> Result<Option<Value>, String> {
        self.validate_for(v, TargetPolicy::HttpsOnly)
    }

    /// [`FieldKind::validate`] with the targets `policy` accepts.
    pub fn validate_for(self, v: &Value, policy: TargetPolicy) -> Result<Option<Value>, String> {
        if v.is_null() {
            return Ok(None);
        }
        let wrong = || format!("expected {}, got {}", self.expected(), type_name(v));
        match self {
            FieldKind::Bool => v.as_bool().map(|b| Some(Value::Bool(b))).ok_or_else(wrong),
            FieldKind::OptHttpsUrl => {
                let s = v.as_str().ok_or_else(wrong)?;
                if s.trim().is_empty() {
                    return Ok(Some(Value::String(String::new())));
                }
                let url = normalize_webhook_url(s);
                check_target_url(&url, policy)?;
                Ok(Some(Value::String(url)))
            }
            FieldKind::OptTimeOfDay => {
                let s = v.as_str().ok_or_else(wrong)?;
                if s.trim().is_empty() {
                    return Ok(Some(Value::String(String::new())));
                }
                parse_time_of_day(s).ok_or_else(|| {
                    format!("expected HH:MM, HHhMM or HHh (00:00 to 23:59), got {s:?}")
                })?;
                Ok(Some(Value::String(s.trim().to_string())))
            }
            FieldKind::Weekdays => {
                let items = v.as_array().ok_or_else(wrong)?;
                let mut days: Vec<Value> = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("expected day names, got {}", type_name(item)))?;
                    let day = weekday_name(s)
                        .ok_or_else(|| format!("unknown day name {s:?} (use monday..sunday)"))?;
                    if !days.iter().any(|d| d == day) {
                        days.push(Value::String(day.into()));
                    }
                }
                Ok(Some(Value::Array(days)))
            }
            FieldKind::UInt { min, max } => {
                let n = v.as_u64().filter(|_| v.is_u64()).ok_or_else(wrong)?;
                if n < min || n > max {
                    return Err(format!("must be between {min} and {max}, got {n}"));
                }
                Ok(Some(Value::from(n)))
            }
            FieldKind::StringList {
                max_items,
                max_chars,
            } => {
                let items = v.as_array().ok_or_else(wrong)?;
                let mut out = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("expected strings, got {}", type_name(item)))?;
                    let chars = s.trim().chars().count();
                    if chars > max_chars {
                        return Err(format!(
                            "an entry is too long ({chars} characters; at most {max_chars})"
                        ));
                    }
                    if chars > 0 {
                        out.push(Value::String(s.trim().to_string()));
                    }
                }
                if out.len() > max_items {
                    return Err(format!(
                        "too many entries ({}; at most {max_items})",
                        out.len()
                    ));
                }
                Ok(Some(Value::Array(out)))
            }
        }
    }

    fn expected(self) -> &'static str {
        match self {
            FieldKind::Bool => "a boolean",
            FieldKind::OptHttpsUrl | FieldKind::OptTimeOfDay => "a string",
            FieldKind::Weekdays | FieldKind::StringList { .. } => "an array of strings",
            FieldKind::UInt { .. } => "an integer",
        }
    }

    /// Describes the kind for a form: `{"type": …}` plus `min`/`max` for integers.
    pub fn describe(self) -> Value {
        let kind = match self {
            FieldKind::Bool => "boolean",
            FieldKind::OptHttpsUrl => "url",
            FieldKind::OptTimeOfDay => "time_of_day",
            FieldKind::Weekdays => "weekdays",
            FieldKind::StringList { .. } => "list",
            FieldKind::UInt { min, max } => {
                return serde_json::json!({"type": "integer", "min": min, "max": max})
            }
        };
        serde_json::json!({ "type": kind })
    }

    /// Reads an environment variable's text as this kind (lists are comma separated).
    pub fn from_env(self, raw: &str, policy: TargetPolicy) -> Result<Value, String> {
        let value = match self {
            FieldKind::Bool => Value::Bool(parse_bool(raw).ok_or("must be true or false")?),
            FieldKind::UInt { .. } => Value::from(
                raw.trim()
                    .parse::<u64>()
                    .map_err(|_| "must be an integer")?,
            ),
            FieldKind::Weekdays | FieldKind::StringList { .. } => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            FieldKind::OptHttpsUrl | FieldKind::OptTimeOfDay => Value::String(raw.to_string()),
        };
        self.validate_for(&value, policy)
            .map(|v| v.unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_forms() {
        assert_eq!(parse_time_of_day("09:30"), Some(570));
        assert_eq!(parse_time_of_day("9h30"), Some(570));
        assert_eq!(parse_time_of_day("18h"), Some(1080));
        assert_eq!(parse_time_of_day("23:59"), Some(1439));
        for bad in [
            "24:00", "12:60", "12:5", "12", "ab:cd", "", "9:", "123:00", "12h5",
        ] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_targets_only_on_loopback_and_only_when_allowed() {
        use TargetPolicy::*;
        #[rustfmt::skip]
        let table = [
            ("https://hooks.example/x", true, true),
            ("http://127.0.0.1:8790/hook", false, true),
            ("http://localhost:8790/hook", false, true),
            ("http://LOCALHOST/hook", false, true),
            ("http://[::1]:8790/hook", false, true),
            ("http://127.1.2.3/hook", false, true),
            ("http://user@127.0.0.1/hook", false, true),
            ("http://hooks.example/x", false, false),
            ("http://127.0.0.1.evil.example/x", false, false),
            ("http://localhost.evil.example/x", false, false),
            ("http://[::2]/x", false, false),
            ("http://127.0.0.256/x", false, false),
            ("ftp://127.0.0.1/x", false, false),
            ("http:///x", false, false),
        ];
        for (url, https_only, loopback) in table {
            assert_eq!(
                check_target_url(url, HttpsOnly).is_ok(),
                https_only,
                "{url}"
            );
            assert_eq!(
                check_target_url(url, AllowHttpLoopback).is_ok(),
                loopback,
                "{url}"
            );
        }
        let refused = check_target_url("http://127.0.0.1:1/h", HttpsOnly).unwrap_err();
        assert!(refused.contains(DEV_ALLOW_HTTP_LOOPBACK), "{refused}");
        let v = serde_json::json!("http://127.0.0.1:8790/hook");
        assert!(FieldKind::OptHttpsUrl.validate(&v).is_err());
        assert_eq!(
            FieldKind::OptHttpsUrl.validate_for(&v, AllowHttpLoopback),
            Ok(Some(v.clone()))
        );
    }

    #[test]
    fn string_lists_are_bounded() {
        let kind = FieldKind::StringList {
            max_items: 2,
            max_chars: 3,
        };
        assert_eq!(
            kind.validate(&serde_json::json!([" ab ", "", "abc"])),
            Ok(Some(serde_json::json!(["ab", "abc"])))
        );
        assert!(kind
            .validate(&serde_json::json!(["a", "b", "c"]))
            .unwrap_err()
            .contains("too many entries (3; at most 2)"));
        assert!(kind
            .validate(&serde_json::json!(["abcd"]))
            .unwrap_err()
            .contains("too long (4 characters; at most 3)"));
    }

    #[test]
    fn make_tokens_normalise() {
        assert_eq!(
            normalize_webhook_url("abc123"),
            "https://hook.eu2.make.com/abc123"
        );
        assert_eq!(
            normalize_webhook_url("abc123@hook.us1.make.com"),
            "https://hook.us1.make.com/abc123"
        );
        assert_eq!(normalize_webhook_url(" https://x.y/z "), "https://x.y/z");
    }
}
