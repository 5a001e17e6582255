//! The OIDC token a Pub/Sub push carries (`Authorization: Bearer <JWT>`, RS256, signed by
//! Google): reading it, the checks of its claims, the choice of the key that signed it, and when
//! to fetch Google's keys (JWKS) again. The signature itself is checked by the runtime's
//! WebCrypto (the glue), with the key chosen here.
//!
//! A push is taken only when all of these hold, in this order (the first that fails answers):
//! a `Bearer` token of three base64url parts (401), `alg` RS256 with a `kid` (401), a key of
//! Google's with that `kid` (401), a signature that verifies (401), `iss` Google's (401), not
//! expired and not issued in the future beyond [`SKEW_SECS`] (401), `aud` the configured
//! audience (403), `email` the configured push service account (403), `email_verified` true
//! (403).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;

/// Google's published signing keys.
pub const JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The issuers Google writes in its ID tokens.
pub const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
/// Clock difference tolerated on `exp` and `iat`.
pub const SKEW_SECS: i64 = 60;
/// Longest token read (Google's are about 1 KB).
pub const MAX_TOKEN_BYTES: usize = 8_192;
/// Google's keys are fetched again for an unknown `kid` at most this often (per isolate), so a
/// flood of forged `kid`s costs one fetch a minute.
pub const REFETCH_MIN_MS: i64 = 60_000;
/// How long fetched keys are trusted without a `max-age`, and the bounds put on one.
pub const KEYS_DEFAULT_SECS: u64 = 3_600;
pub const KEYS_MIN_SECS: u64 = 300;
pub const KEYS_MAX_SECS: u64 = 86_400;

/// Why a push's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Gmail push is not configured (no audience or service account): the endpoint is closed.
    NotConfigured,
    NoToken,
    Malformed,
    Algorithm,
    UnknownKey,
    BadSignature,
    Issuer,
    Expired,
    NotYetValid,
    Audience,
    Signer,
    Unverified,
}

impl Refusal {
    /// Wire name, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotConfigured => "not_configured",
            Refusal::NoToken => "no_token",
            Refusal::Malformed => "malformed",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::Issuer => "issuer",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Audience => "audience",
            Refusal::Signer => "signer",
            Refusal::Unverified => "email_unverified",
        }
    }

    /// The answer: 401 when the token is not a valid Google token, 403 when it is one but not
    /// for this endpoint. The message never quotes the token or its claims.
    pub fn error(self) -> ApiError {
        let why = match self {
            Refusal::NotConfigured => {
                "Gmail push is not configured (GMAIL_PUSH_AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT)"
            }
            Refusal::NoToken => "Push refused: no bearer token",
            Refusal::Malformed => "Push refused: the token is not a JWT",
            Refusal::Algorithm => "Push refused: the token is not RS256 with a key id",
            Refusal::UnknownKey => "Push refused: the token's key is not one of Google's",
            Refusal::BadSignature => "Push refused: the token's signature does not verify",
            Refusal::Issuer => "Push refused: the token was not issued by Google",
            Refusal::Expired => "Push refused: the token has expired",
            Refusal::NotYetValid => "Push refused: the token is not valid yet",
            Refusal::Audience => "Push refused: the token is for another audience",
            Refusal::Signer => "Push refused: the token is not the push service account's",
            Refusal::Unverified => "Push refused: the signer's e-mail is not verified",
        };
        match self {
            Refusal::Audience | Refusal::Signer | Refusal::Unverified => ApiError::forbidden(why),
            _ => ApiError::unauthorized_because(why),
        }
    }
}

/// A token read, its signature not checked yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub kid: String,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    pub claims: Claims,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The claims Facteur checks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub aud: Option<Audience>,
    #[serde(default)]
    pub email: Option<String>,
    /// `true`, or `"true"` (both forms are seen in Google tokens).
    #[serde(default)]
    pub email_verified: Option<Value>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
}

/// `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, want: &str) -> bool {
        match self {
            Audience::One(a) => a == want,
            Audience::Many(all) => all.iter().any(|a| a == want),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub fn bearer(header: Option<&str>) -> Result<&str, Refusal> {
    let (scheme, token) = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .ok_or(Refusal::NoToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Refusal::NoToken);
    }
    Ok(token)
}

fn part(text: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Refusal::Malformed)
}

/// Reads a compact JWT: three base64url parts, an RS256 header with a `kid`, JSON claims.
pub fn parse(token: &str) -> Result<Token<'_>, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let header: Header = serde_json::from_slice(&part(h)?).map_err(|_| Refusal::Malformed)?;
    let claims: Claims = serde_json::from_slice(&part(p)?).map_err(|_| Refusal::Malformed)?;
    let signature = part(s)?;
    let kid = match (header.alg.as_str(), header.kid) {
        ("RS256", Some(kid)) if !kid.is_empty() => kid,
        _ => return Err(Refusal::Algorithm),
    };
    if signature.is_empty() {
        return Err(Refusal::Malformed);
    }
    Ok(Token {
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
        claims,
    })
}

/// What a push token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub audience: &'a str,
    pub service_account: &'a str,
}

/// Checks the claims of a token whose signature verified.
pub fn check_claims(c: &Claims, want: &Expected, now_secs: i64) -> Result<(), Refusal> {
    if !c.iss.as_deref().is_some_and(|i| ISSUERS.contains(&i)) {
        return Err(Refusal::Issuer);
    }
    let (Some(exp), Some(iat)) = (c.exp, c.iat) else {
        return Err(Refusal::Malformed);
    };
    if now_secs > exp.saturating_add(SKEW_SECS) {
        return Err(Refusal::Expired);
    }
    let not_before = c.nbf.map_or(iat, |nbf| nbf.max(iat));
    if not_before > now_secs.saturating_add(SKEW_SECS) {
        return Err(Refusal::NotYetValid);
    }
    if want.audience.is_empty() || !c.aud.as_ref().is_some_and(|a| a.contains(want.audience)) {
        return Err(Refusal::Audience);
    }
    let signer = c.email.as_deref().unwrap_or("");
    if want.service_account.is_empty() || !signer.eq_ignore_ascii_case(want.service_account) {
        return Err(Refusal::Signer);
    }
    match &c.email_verified {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::String(s)) if s == "true" => Ok(()),
        _ => Err(Refusal::Unverified),
    }
}

/// One of Google's RSA signing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    pub n: String,
    pub e: String,
}

impl Jwk {
    /// The key as WebCrypto's `importKey("jwk", …)` takes it for RSASSA-PKCS1-v1_5 / SHA-256.
    pub fn webcrypto(&self) -> Value {
        json!({"kty": "RSA", "n": self.n, "e": self.e, "alg": "RS256", "ext": true})
    }
}

/// The RS256 signing keys of a JWKS document (other keys are left out); an error when the
/// document is not a JWKS.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, String> {
    #[derive(Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| format!("JWKS unreadable: {e}"))?;
    Ok(doc
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .filter(|k| {
            k.kty == "RSA"
                && k.alg.as_deref().is_none_or(|a| a == "RS256")
                && k.use_.as_deref().is_none_or(|u| u == "sig")
                && !k.kid.is_empty()
        })
        .collect())
}

/// The key with this `kid`.
pub fn select<'k>(keys: &'k [Jwk], kid: &str) -> Option<&'k Jwk> {
    keys.iter().find(|k| k.kid == kid)
}

/// How long fetched keys are trusted: the response's `max-age`, within
/// [`KEYS_MIN_SECS`]..=[`KEYS_MAX_SECS`], else [`KEYS_DEFAULT_SECS`].
pub fn cache_secs(cache_control: Option<&str>) -> u64 {
    cache_control
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map_or(KEYS_DEFAULT_SECS, |s| s.clamp(KEYS_MIN_SECS, KEYS_MAX_SECS))
}

/// What to do for a token's `kid` with the keys an isolate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Verify with the key held.
    Use,
    /// Fetch the keys (then use the key if it is there; a held key stays usable if the fetch
    /// fails).
    Fetch,
    /// Refuse: the key is unknown and the keys were fetched less than [`REFETCH_MIN_MS`] ago.
    Refuse,
}

/// `held`: the isolate has a key with this `kid`; `fresh_until_ms`: until when the held keys
/// are trusted; `last_fetch_ms`: when they were last fetched (or tried).
pub fn lookup(held: bool, fresh_until_ms: i64, last_fetch_ms: Option<i64>, now_ms: i64) -> Lookup {
    let may_fetch = last_fetch_ms.is_none_or(|t| now_ms - t >= REFETCH_MIN_MS || now_ms < t);
    match (held, now_ms < fresh_until_ms, may_fetch) {
        (true, true, _) | (true, false, false) => Lookup::Use,
        (_, _, true) => Lookup::Fetch,
        (false, _, false) => Lookup::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    const SA: &str = "push@project.iam.gserviceaccount.com";
    const AUD: &str = "https://facteur.example.workers.dev/api/gmail/push";

    fn claims(over: Value) -> Claims {
        let mut base = json!({
            "iss": "https://accounts.google.com", "aud": AUD, "email": SA,
            "email_verified": true, "iat": 1_000, "exp": 4_600, "sub": "1",
        });
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn reading_a_token() {
        let t = token(
            json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
            json!({"iss": "x"}),
        );
        let parsed = parse(&t).unwrap();
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.signature, b"sig");
        assert_eq!(parsed.signing_input, &t[..t.rfind('.').unwrap()]);
        assert_eq!(parsed.claims.iss.as_deref(), Some("x"));
        #[rustfmt::skip]
        let bad: [(String, Refusal); 9] = [
            ("".into(), Refusal::Malformed),
            ("a.b".into(), Refusal::Malformed),
            ("a.b.c.d".into(), Refusal::Malformed),
            ("!!.!!.!!".into(), Refusal::Malformed),
            (token(json!({"alg": "HS256", "kid": "k"}), json!({})), Refusal::Algorithm),
            (token(json!({"alg": "none"}), json!({})), Refusal::Algorithm),
            (token(json!({"alg": "RS256"}), json!({})), Refusal::Algorithm),
            (format!("{}.{}.", b64(&json!({"alg": "RS256", "kid": "k"})), b64(&json!({}))), Refusal::Malformed),
            (format!("{}.bm90IGpzb24.c2ln", b64(&json!({"alg": "RS256", "kid": "k"}))), Refusal::Malformed),
        ];
        for (t, want) in bad {
            assert_eq!(parse(&t).unwrap_err(), want, "{t}");
        }
        assert_eq!(
            parse(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            Refusal::Malformed
        );
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        for h in [
            None,
            Some(""),
            Some("abc"),
            Some("Basic abc"),
            Some("Bearer "),
        ] {
            assert_eq!(bearer(h), Err(Refusal::NoToken), "{h:?}");
        }
    }

    #[test]
    fn claims_table() {
        let want = Expected {
            audience: AUD,
            service_account: SA,
        };
        let now = 2_000;
        #[rustfmt::skip]
        let table: [(Value, Result<(), Refusal>); 17] = [
            (json!({}), Ok(())),
            (json!({"iss": "accounts.google.com"}), Ok(())),
            (json!({"iss": "https://evil.example"}), Err(Refusal::Issuer)),
            (json!({"iss": null}), Err(Refusal::Issuer)),
            (json!({"exp": 1_940}), Ok(())),
            (json!({"exp": 1_939}), Err(Refusal::Expired)),
            (json!({"exp": null}), Err(Refusal::Malformed)),
            (json!({"iat": 2_060}), Ok(())),
            (json!({"iat": 2_061}), Err(Refusal::NotYetValid)),
            (json!({"nbf": 2_500}), Err(Refusal::NotYetValid)),
            (json!({"aud": "https://other.example/push"}), Err(Refusal::Audience)),
            (json!({"aud": ["x", AUD]}), Ok(())),
            (json!({"aud": null}), Err(Refusal::Audience)),
            (json!({"email": "other@project.iam.gserviceaccount.com"}), Err(Refusal::Signer)),
            (json!({"email": "PUSH@project.iam.gserviceaccount.com"}), Ok(())),
            (json!({"email_verified": false}), Err(Refusal::Unverified)),
            (json!({"email_verified": "true"}), Ok(())),
        ];
        for (over, result) in table {
            assert_eq!(
                check_claims(&claims(over.clone()), &want, now),
                result,
                "{over}"
            );
        }
        let closed = Expected {
            audience: "",
            service_account: "",
        };
        assert_eq!(
            check_claims(&claims(json!({})), &closed, now),
            Err(Refusal::Audience)
        );
    }

    #[test]
    fn refusals_answer_401_or_403_without_the_token() {
        assert_eq!(Refusal::BadSignature.error().status(), 401);
        assert_eq!(Refusal::Expired.error().status(), 401);
        assert_eq!(Refusal::NotConfigured.error().status(), 401);
        assert_eq!(Refusal::Audience.error().status(), 403);
        assert_eq!(Refusal::Signer.error().code.as_str(), "forbidden");
        assert!(Refusal::UnknownKey
            .error()
            .message
            .starts_with("Push refused"));
    }

    #[test]
    fn keys_and_their_cache() {
        let doc = json!({"keys": [
            {"kid": "a", "kty": "RSA", "alg": "RS256", "use": "sig", "n": "nn", "e": "AQAB"},
            {"kid": "b", "kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
            {"kid": "c", "kty": "RSA", "alg": "RS512", "n": "nn", "e": "AQAB"},
            {"kid": "d", "kty": "RSA", "n": "nn", "e": "AQAB"},
            {"kid": "e", "kty": "RSA", "use": "enc", "n": "nn", "e": "AQAB"},
            {"junk": true}
        ]})
        .to_string();
        let keys = parse_jwks(&doc).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "d"]);
        assert_eq!(select(&keys, "d").map(|k| k.kid.as_str()), Some("d"));
        assert!(select(&keys, "b").is_none());
        assert_eq!(keys[0].webcrypto()["alg"], "RS256");
        assert!(parse_jwks("nope").is_err());
        assert_eq!(
            cache_secs(Some("public, max-age=19978, must-revalidate")),
            19_978
        );
        assert_eq!(cache_secs(Some("max-age=5")), KEYS_MIN_SECS);
        assert_eq!(cache_secs(Some("max-age=9999999")), KEYS_MAX_SECS);
        assert_eq!(cache_secs(None), KEYS_DEFAULT_SECS);
        #[rustfmt::skip]
        let table = [
            // held, fresh until, last fetch, now → decision
            (true, 10_000, Some(0), 5_000, Lookup::Use),
            (true, 10_000, Some(0), 70_000, Lookup::Fetch),
            (true, 10_000, Some(65_000), 70_000, Lookup::Use),
            (false, 10_000, None, 5_000, Lookup::Fetch),
            (false, 100_000, Some(30_000), 60_000, Lookup::Refuse),
            (false, 100_000, Some(0), 60_000, Lookup::Fetch),
        ];
        for (held, fresh, last, now, want) in table {
            assert_eq!(
                lookup(held, fresh, last, now),
                want,
                "{held} {fresh} {last:?} {now}"
            );
        }
    }
}
