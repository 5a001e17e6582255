//! The runtime's WebCrypto (`crypto.subtle`, `crypto.getRandomValues`): RS256 signatures of
//! Google's tokens (RSASSA-PKCS1-v1_5 with SHA-256, the key imported from its JWK), AES-GCM
//! sealing of the Gmail refresh token, and random bytes. No RSA or AES code is in the wasm:
//! the runtime does it.

use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `crypto.subtle`.
    type SubtleCrypto;

    #[wasm_bindgen(method, catch, js_name = importKey)]
    fn import_key(
        this: &SubtleCrypto,
        format: &str,
        key_data: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn verify(
        this: &SubtleCrypto,
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn encrypt(
        this: &SubtleCrypto,
        algorithm: &JsValue,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn decrypt(
        this: &SubtleCrypto,
        algorithm: &JsValue,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

fn text(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "WebCrypto error".into())
}

fn crypto() -> Result<JsValue, String> {
    Reflect::get(&js_sys::global(), &"crypto".into()).map_err(text)
}

fn subtle() -> Result<SubtleCrypto, String> {
    let subtle = Reflect::get(&crypto()?, &"subtle".into()).map_err(text)?;
    if subtle.is_undefined() {
        return Err("crypto.subtle is unavailable".into());
    }
    Ok(subtle.unchecked_into())
}

async fn wait(p: Result<Promise, JsValue>) -> Result<JsValue, String> {
    JsFuture::from(p.map_err(text)?).await.map_err(text)
}

fn object(pairs: &[(&str, &JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

/// `n` random bytes from the runtime's CSPRNG.
pub fn random_bytes(n: u32) -> Result<Vec<u8>, String> {
    let c = crypto()?;
    let get: js_sys::Function = Reflect::get(&c, &"getRandomValues".into())
        .map_err(text)?
        .dyn_into()
        .map_err(|_| "crypto.getRandomValues is not a function".to_string())?;
    let bytes = Uint8Array::new_with_length(n);
    get.call1(&c, &bytes).map_err(text)?;
    Ok(bytes.to_vec())
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: u32) -> Result<String, String> {
    Ok(random_bytes(n)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// An RSA public key imported for RS256 verification from its JWK (the JSON WebCrypto takes).
pub async fn import_rs256(jwk: &serde_json::Value) -> Result<JsValue, String> {
    let key_data = JSON::parse(&jwk.to_string()).map_err(text)?;
    let algorithm = object(&[
        ("name", &"RSASSA-PKCS1-v1_5".into()),
        ("hash", &"SHA-256".into()),
    ]);
    let usages = Array::of1(&"verify".into());
    wait(subtle()?.import_key("jwk", &key_data, &algorithm, false, &usages)).await
}

/// Whether `signature` is the RS256 signature of `data` by `key` (from [`import_rs256`]).
pub async fn verify_rs256(key: &JsValue, data: &[u8], signature: &[u8]) -> Result<bool, String> {
    let algorithm = object(&[("name", &"RSASSA-PKCS1-v1_5".into())]);
    let ok = wait(subtle()?.verify(
        &algorithm,
        key,
        &Uint8Array::from(signature),
        &Uint8Array::from(data),
    ))
    .await?;
    Ok(ok.as_bool() == Some(true))
}

async fn aes_key(raw: &[u8; 32]) -> Result<JsValue, String> {
    let algorithm = object(&[("name", &"AES-GCM".into())]);
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    wait(subtle()?.import_key(
        "raw",
        &Uint8Array::from(&raw[..]),
        &algorithm,
        false,
        &usages,
    ))
    .await
}

fn gcm(iv: &[u8], aad: &[u8]) -> JsValue {
    object(&[
        ("name", &"AES-GCM".into()),
        ("iv", &Uint8Array::from(iv).into()),
        ("additionalData", &Uint8Array::from(aad).into()),
    ])
}

/// AES-256-GCM: a fresh 12-byte IV, and the ciphertext (with its tag) of `plain`.
pub async fn seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let iv = random_bytes(12)?;
    let out = wait(subtle()?.encrypt(
        &gcm(&iv, aad),
        &aes_key(key).await?,
        &Uint8Array::from(plain),
    ))
    .await?;
    let buf: ArrayBuffer = out
        .dyn_into()
        .map_err(|_| "encrypt: no buffer".to_string())?;
    Ok((iv, Uint8Array::new(&buf).to_vec()))
}

/// Opens what [`seal`] sealed (fails when the key or the data changed).
pub async fn open(key: &[u8; 32], aad: &[u8], iv: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
    let out = wait(subtle()?.decrypt(
        &gcm(iv, aad),
        &aes_key(key).await?,
        &Uint8Array::from(sealed),
    ))
    .await?;
    let buf: ArrayBuffer = out
        .dyn_into()
        .map_err(|_| "decrypt: no buffer".to_string())?;
    Ok(Uint8Array::new(&buf).to_vec())
}
