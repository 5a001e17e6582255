//! Redis over the Upstash REST protocol: commands as JSON arrays, `POST /` for one command,
//! `POST /pipeline` and `POST /multi-exec` for several. The HTTP call itself is a
//! [`RestTransport`] supplied by the edge.

use serde_json::{json, Value};

use super::ids::{inflight_key, processed_key};
use super::log::{LogEntry, LogQuery, LOG_TTL_SECS, MAX_LOG_READ, REDIS_LOG_KEY};
use super::ports::{Claim, DedupStore, KeyValueStore, LogStore, StoreError, StoreResult};

/// One HTTP POST to the Upstash endpoint.
#[allow(async_fn_in_trait)]
pub trait RestTransport {
    /// POSTs `body` to `path` (`/`, `/pipeline`, `/multi-exec`) with the bearer token; returns
    /// the status and the body text, or an error when no answer came.
    async fn post(&self, path: &str, body: String) -> StoreResult<(u16, String)>;
}

/// One reply of a command.
pub type Reply = Result<Value, String>;

fn reply_of(v: &Value) -> Reply {
    match (v.get("result"), v.get("error")) {
        (_, Some(Value::String(e))) => Err(e.clone()),
        (Some(r), _) => Ok(r.clone()),
        _ => Err(format!("unexpected reply {v}")),
    }
}

/// Parses the answer to a single command.
pub fn parse_single(status: u16, body: &str) -> StoreResult<Value> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| StoreError(format!("upstash HTTP {status}: not JSON")))?;
    if !(200..300).contains(&status) {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error text");
        return Err(StoreError(format!("upstash HTTP {status}: {msg}")));
    }
    reply_of(&v).map_err(|e| StoreError(format!("redis error: {e}")))
}

/// Parses the answer to a pipeline or transaction of `n` commands.
pub fn parse_many(status: u16, body: &str, n: usize) -> StoreResult<Vec<Reply>> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| StoreError(format!("upstash HTTP {status}: not JSON")))?;
    if !(200..300).contains(&status) {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error text");
        return Err(StoreError(format!("upstash HTTP {status}: {msg}")));
    }
    let items = v
        .as_array()
        .ok_or_else(|| StoreError("upstash: pipeline reply is not an array".into()))?;
    if items.len() != n {
        return Err(StoreError(format!(
            "upstash: {} replies for {n} commands",
            items.len()
        )));
    }
    Ok(items.iter().map(reply_of).collect())
}

/// A Redis store speaking the Upstash REST protocol.
#[derive(Clone)]
pub struct UpstashStore<T> {
    pub transport: T,
    /// Newest log entries kept in the list (LTRIM).
    pub log_cap: u64,
}

impl<T: RestTransport> UpstashStore<T> {
    /// Runs one command.
    pub async fn command(&self, cmd: Value) -> StoreResult<Value> {
        let (status, body) = self.transport.post("/", cmd.to_string()).await?;
        parse_single(status, &body)
    }

    /// Runs commands in one round trip; `atomic` uses MULTI/EXEC. Any failed command fails the
    /// whole call (the caller treats the store as unavailable for this operation).
    pub async fn many(&self, cmds: Vec<Value>, atomic: bool) -> StoreResult<Vec<Value>> {
        let n = cmds.len();
        let path = if atomic { "/multi-exec" } else { "/pipeline" };
        let (status, body) = self
            .transport
            .post(path, Value::Array(cmds).to_string())
            .await?;
        parse_many(status, &body, n)?
            .into_iter()
            .map(|r| r.map_err(|e| StoreError(format!("redis error: {e}"))))
            .collect()
    }
}

impl<T: RestTransport> KeyValueStore for UpstashStore<T> {
    async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .command(json!(["GET", key]))
            .await?
            .as_str()
            .map(str::to_string))
    }
    async fn put(&self, key: &str, value: &str, ttl_secs: Option<u64>) -> StoreResult<()> {
        let cmd = match ttl_secs {
            Some(ttl) => json!(["SET", key, value, "EX", ttl]),
            None => json!(["SET", key, value]),
        };
        self.command(cmd).await.map(|_| ())
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.command(json!(["DEL", key])).await.map(|_| ())
    }
}

impl<T: RestTransport> LogStore for UpstashStore<T> {
    async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        let text = serde_json::to_string(entry).map_err(|e| StoreError(e.to_string()))?;
        let cmds = vec![
            json!(["LPUSH", REDIS_LOG_KEY, text]),
            json!(["LTRIM", REDIS_LOG_KEY, 0, self.log_cap.saturating_sub(1)]),
            json!(["EXPIRE", REDIS_LOG_KEY, LOG_TTL_SECS]),
        ];
        self.many(cmds, false).await.map(|_| ())
    }
    async fn recent(&self, _query: &LogQuery, _now_ms: i64) -> StoreResult<Vec<LogEntry>> {
        // The newest entries only, however many the list keeps.
        let last = self.log_cap.min(MAX_LOG_READ as u64).max(1) - 1;
        let items = self
            .command(json!(["LRANGE", REDIS_LOG_KEY, 0, last]))
            .await?;
        Ok(items
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| serde_json::from_str(s).ok())
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl<T: RestTransport> DedupStore for UpstashStore<T> {
    async fn is_processed(&self, email_id: &str) -> StoreResult<bool> {
        Ok(self
            .command(json!(["EXISTS", processed_key(email_id)]))
            .await?
            .as_u64()
            .is_some_and(|n| n > 0))
    }
    async fn claim(&self, email_id: &str, ttl: u64) -> StoreResult<Claim> {
        // Lock first, then look at the marker: a request that completed before our SET NX
        // succeeded had written its marker before releasing, so the GET sees it.
        let replies = self
            .many(
                vec![
                    json!(["SET", inflight_key(email_id), "1", "NX", "EX", ttl]),
                    json!(["GET", processed_key(email_id)]),
                ],
                false,
            )
            .await?;
        let acquired = replies[0].as_str() == Some("OK");
        let processed = !replies[1].is_null();
        match (acquired, processed) {
            (_, true) => {
                if acquired {
                    self.command(json!(["DEL", inflight_key(email_id)])).await?;
                }
                Ok(Claim::Processed)
            }
            (true, false) => Ok(Claim::Acquired),
            (false, false) => Ok(Claim::InFlight),
        }
    }
    async fn complete(&self, email_id: &str, ttl: u64) -> StoreResult<()> {
        self.many(
            vec![
                json!(["SET", processed_key(email_id), "1", "EX", ttl]),
                json!(["DEL", inflight_key(email_id)]),
            ],
            true,
        )
        .await
        .map(|_| ())
    }
    async fn release(&self, email_id: &str) -> StoreResult<()> {
        self.command(json!(["DEL", inflight_key(email_id)]))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_replies() {
        assert_eq!(parse_single(200, r#"{"result":"OK"}"#), Ok(json!("OK")));
        assert_eq!(parse_single(200, r#"{"result":null}"#), Ok(Value::Null));
        assert!(parse_single(200, r#"{"error":"WRONGTYPE"}"#)
            .unwrap_err()
            .0
            .contains("WRONGTYPE"));
        assert!(parse_single(401, r#"{"error":"Unauthorized"}"#)
            .unwrap_err()
            .0
            .contains("401"));
        assert!(parse_single(502, "<html>").is_err());
    }

    /// A transport that records what it is sent and answers an empty list.
    struct Recorder(std::cell::RefCell<Vec<String>>);

    impl RestTransport for Recorder {
        async fn post(&self, _path: &str, body: String) -> StoreResult<(u16, String)> {
            self.0.borrow_mut().push(body);
            Ok((200, r#"{"result":[]}"#.into()))
        }
    }

    #[test]
    fn log_reads_take_the_newest_entries_only() {
        let query = LogQuery::parse(&[]).unwrap();
        for (cap, last) in [(1_000_000, MAX_LOG_READ - 1), (1_000, 999), (10, 9)] {
            let store = UpstashStore {
                transport: Recorder(Default::default()),
                log_cap: cap,
            };
            futures::executor::block_on(store.recent(&query, 0)).unwrap();
            assert_eq!(
                store.transport.0.borrow().as_slice(),
                [format!(r#"["LRANGE","{REDIS_LOG_KEY}",0,{last}]"#)]
            );
        }
    }

    #[test]
    fn parses_pipelines() {
        let r = parse_many(
            200,
            r#"[{"result":1},{"error":"ERR x"},{"result":null}]"#,
            3,
        )
        .unwrap();
        assert_eq!(r, vec![Ok(json!(1)), Err("ERR x".into()), Ok(Value::Null)]);
        assert!(parse_many(200, r#"[{"result":1}]"#, 2).is_err());
        assert!(parse_many(200, r#"{"result":1}"#, 1).is_err());
    }
}
