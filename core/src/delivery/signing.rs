//! Payload signatures in the Standard Webhooks format (as Svix sends them): receivers verify
//! `webhook-signature` with the shared secret and reject replays with `webhook-timestamp`.
//!
//! Several secrets can be in force at once, for rotation without a gap: the header then holds
//! one `v1,<signature>` per secret, separated by spaces, and a receiver accepts the message when
//! any of them verifies with a secret it knows (Standard Webhooks, "signature rotation").

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub webhook_id: String,
    pub webhook_timestamp: String,
    pub webhook_signature: String,
}

/// Prefix of the secrets Svix and the Standard Webhooks libraries issue (`whsec_<base64>`).
pub const SECRET_PREFIX: &str = "whsec_";

/// Most secrets signing at once: a rotation needs two; more is a configuration slip.
pub const MAX_SECRETS: usize = 5;

/// Decodes a secret: `whsec_<base64>` as Svix issues them, or any other text used as raw bytes.
/// Settings refuse a `whsec_` secret that does not decode ([`parse_secrets`]).
pub fn secret_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// Reads `WEBHOOK_SIGNING_SECRET`: one or more secrets separated by whitespace, each
/// `whsec_<base64>` or raw text. Answers them joined by single spaces, or what is wrong naming
/// the secret by its position only (a secret is never echoed).
pub fn parse_secrets(raw: &str) -> Result<String, String> {
    let secrets: Vec<&str> = raw.split_whitespace().collect();
    if secrets.len() > MAX_SECRETS {
        return Err(format!(
            "holds {} secrets; at most {MAX_SECRETS} (two during a rotation)",
            secrets.len()
        ));
    }
    for (i, secret) in secrets.iter().enumerate() {
        if let Some(b64) = secret.strip_prefix(SECRET_PREFIX) {
            // Signing with the text of a `whsec_` secret that does not decode would fail every
            // verification at the receiver, silently.
            match STANDARD.decode(b64) {
                Ok(key) if !key.is_empty() => {}
                _ => {
                    return Err(format!(
                        "secret {} of {}: starts with whsec_ but is not base64 after it",
                        i + 1,
                        secrets.len()
                    ))
                }
            }
        }
    }
    Ok(secrets.join(" "))
}

/// The `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` of one secret.
fn signature(secret: &str, id: &str, unix_secs: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret))
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{id}.{unix_secs}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Signs with every secret of `secrets` (whitespace-separated, as [`parse_secrets`] answers):
/// `webhook-signature` holds one `v1,<base64>` per secret, in order, separated by spaces.
pub fn sign(secrets: &str, id: &str, unix_secs: i64, body: &str) -> SignatureHeaders {
    let signatures: Vec<String> = secrets
        .split_whitespace()
        .map(|s| signature(s, id, unix_secs, body))
        .collect();
    SignatureHeaders {
        webhook_id: id.to_string(),
        webhook_timestamp: unix_secs.to_string(),
        webhook_signature: signatures.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_sign(secrets: &str) -> SignatureHeaders {
        // The example of the Standard Webhooks specification.
        sign(
            secrets,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        assert_eq!(spec_sign(SPEC_SECRET).webhook_signature, SPEC_SIGNATURE);
    }

    #[test]
    fn whsec_secrets_must_decode() {
        assert!(parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(parse_secrets("plain text secret").is_ok());
        assert!(parse_secrets("whsec_not base64!")
            .unwrap_err()
            .contains("base64"));
        assert!(parse_secrets("whsec_").unwrap_err().contains("base64"));
    }

    #[test]
    fn raw_secrets_work_too() {
        let a = sign("plain-secret", "id", 1, "{}");
        assert!(a.webhook_signature.starts_with("v1,"));
        assert_ne!(a, sign("other-secret", "id", 1, "{}"));
    }

    #[test]
    fn several_secrets_sign_once_each_in_order() {
        let both = spec_sign(&format!("{SPEC_SECRET} plain-secret"));
        let parts: Vec<&str> = both.webhook_signature.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0], SPEC_SIGNATURE,
            "the first secret's signature unchanged"
        );
        assert_eq!(parts[1], spec_sign("plain-secret").webhook_signature);
        assert_ne!(parts[0], parts[1]);
        // The new secret first, the old one second: a receiver on either still verifies.
        let swapped = spec_sign(&format!("plain-secret {SPEC_SECRET}"));
        assert_eq!(
            swapped.webhook_signature.split(' ').nth(1),
            Some(SPEC_SIGNATURE)
        );
        assert_eq!(
            spec_sign("").webhook_signature,
            "",
            "no secret, no signature"
        );
    }

    #[test]
    fn secrets_are_checked_one_by_one_and_never_echoed() {
        assert_eq!(
            parse_secrets(&format!("  {SPEC_SECRET}\n plain  ")).unwrap(),
            format!("{SPEC_SECRET} plain")
        );
        let err = parse_secrets(&format!("{SPEC_SECRET} whsec_not*base64")).unwrap_err();
        assert!(
            err.starts_with("secret 2 of 2") && err.contains("base64"),
            "{err}"
        );
        assert!(!err.contains("not*base64"), "{err}");
        assert!(parse_secrets("whsec_")
            .unwrap_err()
            .contains("secret 1 of 1"));
        let many = ["s"; MAX_SECRETS + 1].join(" ");
        assert!(parse_secrets(&many).unwrap_err().contains("at most"));
        assert_eq!(
            parse_secrets(&["s"; MAX_SECRETS].join(" ")).unwrap().len(),
            9
        );
    }
}
