//! Message parts: inline when small, else spilled to the KV store under a key, so a queue
//! message stays under the queue's 128 KB limit; and how messages are batched.

use serde::{Deserialize, Serialize};

/// Largest inline part of a message, measured as it will be written inside the message's JSON
/// (escaped); larger parts are spilled. The rest of a message stays far below the 32 KB left
/// to reach the queue's 128 KB.
pub const INLINE_LIMIT_BYTES: usize = 96 * 1024;
/// Largest message the producers send (the queue refuses more than 128 KB).
pub const MAX_MESSAGE_BYTES: usize = 127 * 1024;
/// Most messages one batch send carries (the queue's limit).
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Most bytes one batch send carries (the queue allows 256 KB in all).
pub const MAX_BATCH_BYTES: usize = 250 * 1024;

/// Splits messages of these sizes, in order, into consecutive batches within both limits (a
/// message is never over [`MAX_MESSAGE_BYTES`], so each fits in a batch of its own).
pub fn batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Lifetime of a spilled part. A part still needed later (a long hold, a dead letter kept for
/// replay) has its lifetime renewed by whoever keeps it.
pub const SPILL_TTL_SECS: u64 = 14 * 86_400;

/// A message part: inline, or spilled to the KV store under `key`. Read by hand (see the
/// `Deserialize` below), written by the derive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blob {
    Inline { data: String },
    Spilled { key: String },
}

/// The derived reading of an internally tagged enum buffers the object in serde's `Content`
/// and is instantiated once per deserializer that reads a message (several KB of wasm each):
/// the object is read as a JSON value instead, and picked apart by one non-generic function.
/// Same accepted input: an object whose `kind` is `inline` (with a string `data`) or
/// `spilled` (with a string `key`), other fields ignored.
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        blob_from_value(serde_json::Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn blob_from_value(v: serde_json::Value) -> Result<Blob, serde_json::Error> {
    use serde::de::{Error, Unexpected};
    use serde_json::Value;
    let Value::Object(mut m) = v else {
        return Err(Error::invalid_type(
            Unexpected::Other("not an object"),
            &"a Blob object",
        ));
    };
    let mut string = |name: &'static str| match m.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::invalid_type(
            Unexpected::Other("not a string"),
            &"a string",
        )),
        None => Err(Error::missing_field(name)),
    };
    let kind = string("kind")?;
    match kind.as_str() {
        "inline" => Ok(Blob::Inline {
            data: string("data")?,
        }),
        "spilled" => Ok(Blob::Spilled {
            key: string("key")?,
        }),
        other => Err(Error::unknown_variant(other, &["inline", "spilled"])),
    }
}

impl Blob {
    /// Keeps `data` inline when small enough, else names the key it must be spilled to. The
    /// caller writes the spill *before* sending the message.
    pub fn place(data: String, spill_key: String) -> (Blob, Option<(String, String)>) {
        if fits_inline(&data) {
            (Blob::Inline { data }, None)
        } else {
            (
                Blob::Spilled {
                    key: spill_key.clone(),
                },
                Some((spill_key, data)),
            )
        }
    }

    /// The payload part of a delivery message whose body is stored under `key`: the body
    /// itself when it fits inline (no store read on the delivery path), else the key.
    pub fn for_payload(body: &str, key: &str) -> Blob {
        if fits_inline(body) {
            Blob::Inline {
                data: body.to_string(),
            }
        } else {
            Blob::Spilled {
                key: key.to_string(),
            }
        }
    }
}

/// True when `data` can travel inside a message. Quotes, backslashes and control characters
/// grow when the part is escaped into the message: the escaped form is measured (only for
/// parts that could fit at all).
fn fits_inline(data: &str) -> bool {
    data.len() <= INLINE_LIMIT_BYTES
        && serde_json::to_string(data).is_ok_and(|escaped| escaped.len() <= INLINE_LIMIT_BYTES)
}

/// KV key of the spilled e-mail body.
pub fn email_spill_key(email_id: &str) -> String {
    format!("blob:email:{email_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_read_as_the_derive_read_them() {
        let read = |t: &str| serde_json::from_str::<Blob>(t).map_err(|e| e.to_string());
        assert_eq!(
            read(r#"{"data":"x","kind":"inline","other":1}"#),
            Ok(Blob::Inline { data: "x".into() })
        );
        assert_eq!(
            read(r#"{"kind":"spilled","key":"k"}"#),
            Ok(Blob::Spilled { key: "k".into() })
        );
        for bad in [
            r#"{"data":"x"}"#,
            r#"{"kind":"inline"}"#,
            r#"{"kind":"spilled","key":1}"#,
            r#"{"kind":"other","key":"k"}"#,
            r#""inline""#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let blob = Blob::Inline {
            data: "é\"".into()
        };
        let text = serde_json::to_string(&blob).unwrap();
        assert_eq!(text, r#"{"kind":"inline","data":"é\""}"#);
        assert_eq!(read(&text), Ok(blob));
        let value = serde_json::to_value(Blob::Spilled { key: "k".into() }).unwrap();
        assert_eq!(
            serde_json::from_value::<Blob>(value).unwrap(),
            Blob::Spilled { key: "k".into() }
        );
    }

    #[test]
    fn small_parts_stay_inline_and_large_parts_spill() {
        let (b, spill) = Blob::place("x".repeat(10), "k".into());
        assert_eq!(
            b,
            Blob::Inline {
                data: "x".repeat(10)
            }
        );
        assert!(spill.is_none());
        let big = "é".repeat(INLINE_LIMIT_BYTES);
        let (b, spill) = Blob::place(big.clone(), "k".into());
        assert_eq!(b, Blob::Spilled { key: "k".into() });
        assert_eq!(spill, Some(("k".into(), big)));
    }

    #[test]
    fn batches_keep_order_and_both_limits() {
        assert!(batches(&[]).is_empty());
        assert_eq!(batches(&[10; 250]), [0..100, 100..200, 200..250]);
        let big = MAX_MESSAGE_BYTES;
        assert_eq!(batches(&[big, big, 10, big]), [0..1, 1..3, 3..4]);
        assert_eq!(batches(&[5]), vec![0..1]);
    }
}
