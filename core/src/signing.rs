//! Payload signatures in the Standard Webhooks format (as Svix sends them): receivers verify
//! `webhook-signature` with the shared secret and reject replays with `webhook-timestamp`.

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

/// Checks a signing secret: one that starts with `whsec_` must carry base64 after it (receivers
/// decode it; signing with the text instead would fail every verification, silently).
pub fn check_secret(secret: &str) -> Result<(), String> {
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(b64) => match STANDARD.decode(b64) {
            Ok(key) if !key.is_empty() => Ok(()),
            Ok(_) => Err("has nothing after whsec_".into()),
            Err(_) => Err("starts with whsec_ but is not valid base64 after it".into()),
        },
        None => Ok(()),
    }
}

/// Decodes a secret: `whsec_<base64>` as Svix issues them, or any other text used as raw bytes.
/// Settings refuse a `whsec_` secret that does not decode ([`check_secret`]).
pub fn secret_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// Signs `"{id}.{timestamp}.{body}"` with HMAC-SHA256: `webhook-signature: v1,<base64>`.
pub fn sign(secret: &str, id: &str, unix_secs: i64, body: &str) -> SignatureHeaders {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret))
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{id}.{unix_secs}.").as_bytes());
    mac.update(body.as_bytes());
    SignatureHeaders {
        webhook_id: id.to_string(),
        webhook_timestamp: unix_secs.to_string(),
        webhook_signature: format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification.
        let h = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            h.webhook_signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn whsec_secrets_must_decode() {
        assert_eq!(
            check_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Ok(())
        );
        assert_eq!(check_secret("plain text secret"), Ok(()));
        assert!(check_secret("whsec_not base64!")
            .unwrap_err()
            .contains("base64"));
        assert!(check_secret("whsec_").unwrap_err().contains("nothing"));
    }

    #[test]
    fn raw_secrets_work_too() {
        let a = sign("plain-secret", "id", 1, "{}");
        assert!(a.webhook_signature.starts_with("v1,"));
        assert_ne!(a, sign("other-secret", "id", 1, "{}"));
    }
}
