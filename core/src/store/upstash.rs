//! Redis over the Upstash REST protocol: commands as JSON arrays, `POST /` for one command,
//! `POST /pipeline` and `POST /multi-exec` for several. The HTTP call itself is a
//! [`RestTransport`] supplied by the edge.

use serde_json::{json, Value};

use crate::base::ids::{inflight_key, processed_key};
use crate::store::log::{LogEntry, LogQuery, LOG_TTL_SECS, MAX_LOG_READ, REDIS_LOG_KEY};
use crate::store::ports::{Claim, DedupStore, KeyValueStore, LogStore, StoreError, StoreResult};

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
        .map_err(|_| StoreError::unreadable(format!("upstash HTTP {status}: not JSON")))?;
    if !(200..300).contains(&status) {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error text");
        return Err(StoreError::refused(format!("upstash HTTP {status}: {msg}")));
    }
    reply_of(&v).map_err(|e| StoreError::refused(format!("redis error: {e}")))
}

/// Parses the answer to a pipeline or transaction of `n` commands.
pub fn parse_many(status: u16, body: &str, n: usize) -> StoreResult<Vec<Reply>> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| StoreError::unreadable(format!("upstash HTTP {status}: not JSON")))?;
    if !(200..300).contains(&status) {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error text");
        return Err(StoreError::refused(format!("upstash HTTP {status}: {msg}")));
    }
    let items = v
        .as_array()
        .ok_or_else(|| StoreError::unreadable("upstash: pipeline reply is not an array"))?;
    if items.len() != n {
        return Err(StoreError::unreadable(format!(
            "upstash: {} replies for {n} commands",
            items.len()
        )));
    }
    Ok(items.iter().map(reply_of).collect())
}

/// One append in [`TRIM_EVERY`] also trims the list (`LTRIM` to the newest `log_cap`), chosen by
/// the entry's id: Upstash bills every command, and trimming on every append made the log cost
/// three commands an entry instead of two. The list may hold a few more entries than its cap
/// between two trims (reads take the newest `log_cap`); `EXPIRE` stays on every append, so the
/// list always lives 7 days past its newest entry.
pub const TRIM_EVERY: u32 = 8;

/// True when appending the entry `id` trims the log too.
pub fn trims(id: &str) -> bool {
    crate::base::ids::sha256_hex(id).as_bytes()[0] % TRIM_EVERY as u8 == 0
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
            .map(|r| r.map_err(|e| StoreError::refused(format!("redis error: {e}"))))
            .collect()
    }
}

impl<T: RestTransport> UpstashStore<T> {
    /// Removes the log entries `doomed` picks: `LREM` of each one's exact value, all in one
    /// pipeline (entries pushed meanwhile are not touched). Answers the entries removed.
    pub async fn remove_log_entries(
        &self,
        doomed: impl Fn(&LogEntry) -> bool,
    ) -> StoreResult<Vec<LogEntry>> {
        let items = self
            .command(json!(["LRANGE", REDIS_LOG_KEY, 0, -1]))
            .await?;
        let mut values = Vec::new();
        let mut entries = Vec::new();
        for text in items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Ok(entry) = serde_json::from_str::<LogEntry>(text) {
                if doomed(&entry) && !values.contains(&text) {
                    values.push(text);
                    entries.push(entry);
                }
            }
        }
        if values.is_empty() {
            return Ok(entries);
        }
        let cmds = values
            .iter()
            .map(|v| json!(["LREM", REDIS_LOG_KEY, 0, v]))
            .collect();
        let counts = self.many(cmds, false).await?;
        // An entry written twice (a retried write) is one entry with two values in the list.
        let removed: u64 = counts.iter().filter_map(Value::as_u64).sum();
        entries.truncate(removed.min(entries.len() as u64) as usize);
        Ok(entries)
    }

    /// Deletes keys in one pipeline; answers, per key, whether it existed.
    pub async fn delete_keys(&self, keys: &[String]) -> StoreResult<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cmds = keys.iter().map(|k| json!(["DEL", k])).collect();
        let replies = self.many(cmds, false).await?;
        Ok(replies.iter().map(|r| r.as_u64() == Some(1)).collect())
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
    /// One `MGET`: one command and one round trip for every key.
    async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<String>>> {
        let mut cmd = vec![json!("MGET")];
        cmd.extend(keys.iter().map(|k| json!(k)));
        let values = self.command(Value::Array(cmd)).await?;
        let values = values
            .as_array()
            .filter(|v| v.len() == keys.len())
            .ok_or_else(|| StoreError::unreadable("upstash: MGET reply is not one value a key"))?;
        Ok(values
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect())
    }
}

impl<T: RestTransport> LogStore for UpstashStore<T> {
    async fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        let text =
            serde_json::to_string(entry).map_err(|e| StoreError::unreadable(e.to_string()))?;
        let mut cmds = vec![
            json!(["LPUSH", REDIS_LOG_KEY, text]),
            json!(["EXPIRE", REDIS_LOG_KEY, LOG_TTL_SECS]),
        ];
        if trims(&entry.id) {
            cmds.insert(
                1,
                json!(["LTRIM", REDIS_LOG_KEY, 0, self.log_cap.saturating_sub(1)]),
            );
        }
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
            .detail
            .contains("WRONGTYPE"));
        assert!(parse_single(401, r#"{"error":"Unauthorized"}"#)
            .unwrap_err()
            .detail
            .contains("401"));
        assert!(parse_single(502, "<html>").is_err());
    }

    /// A transport answering from a list of canned replies, recording what it was sent.
    struct Canned {
        replies: std::cell::RefCell<Vec<String>>,
        sent: std::cell::RefCell<Vec<(String, Value)>>,
    }

    impl RestTransport for &Canned {
        async fn post(&self, path: &str, body: String) -> StoreResult<(u16, String)> {
            let body = serde_json::from_str(&body).unwrap();
            self.sent.borrow_mut().push((path.to_string(), body));
            Ok((200, self.replies.borrow_mut().remove(0)))
        }
    }

    #[test]
    fn log_reads_take_the_newest_entries_only() {
        let query = LogQuery::parse(&[]).unwrap();
        for (cap, last) in [(1_000_000, MAX_LOG_READ - 1), (1_000, 999), (10, 9)] {
            let canned = Canned {
                replies: vec![r#"{"result":[]}"#.into()].into(),
                sent: Default::default(),
            };
            let store = UpstashStore {
                transport: &canned,
                log_cap: cap,
            };
            futures::executor::block_on(store.recent(&query, 0)).unwrap();
            assert_eq!(
                canned.sent.borrow()[0].1,
                json!(["LRANGE", REDIS_LOG_KEY, 0, last])
            );
        }
    }

    #[test]
    fn log_entries_are_removed_by_their_exact_values() {
        let entry = |id: &str, email: &str| {
            json!({"id": id, "timestamp": "2026-01-01T00:00:00.000Z", "status": "success", "email_id": email}).to_string()
        };
        let list =
            json!({"result": [entry("a", "e1"), entry("b", "e2"), "not json", entry("c", "e1")]});
        let canned = Canned {
            replies: vec![list.to_string(), r#"[{"result":1},{"result":1}]"#.into()].into(),
            sent: Default::default(),
        };
        let store = UpstashStore {
            transport: &canned,
            log_cap: 10,
        };
        let removed =
            futures::executor::block_on(store.remove_log_entries(|e| e.email_id == "e1")).unwrap();
        let ids: Vec<&str> = removed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        let sent = canned.sent.borrow();
        assert_eq!(sent[1].0, "/pipeline");
        assert_eq!(
            sent[1].1[0],
            json!(["LREM", REDIS_LOG_KEY, 0, entry("a", "e1")])
        );
        assert_eq!(sent[1].1[1][3], json!(entry("c", "e1")));
        assert_eq!(sent[1].1.as_array().unwrap().len(), 2, "e2 untouched");
    }

    #[test]
    fn deleted_keys_say_which_existed() {
        let canned = Canned {
            replies: vec![r#"[{"result":1},{"result":0}]"#.into()].into(),
            sent: Default::default(),
        };
        let store = UpstashStore {
            transport: &canned,
            log_cap: 10,
        };
        let keys = ["k1".to_string(), "k2".to_string()];
        let existed = futures::executor::block_on(store.delete_keys(&keys)).unwrap();
        assert_eq!(existed, [true, false]);
        assert_eq!(
            canned.sent.borrow()[0].1,
            json!([["DEL", "k1"], ["DEL", "k2"]])
        );
        assert!(futures::executor::block_on(store.delete_keys(&[]))
            .unwrap()
            .is_empty());
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

    #[test]
    fn one_append_in_eight_trims() {
        let ids: Vec<String> = (0..8_000).map(|i| format!("entry-{i}")).collect();
        let trimmed = ids.iter().filter(|id| trims(id)).count();
        assert!((800..1_200).contains(&trimmed), "{trimmed} of 8,000");
        assert_eq!(
            trims("entry-1"),
            trims("entry-1"),
            "the same entry, the same choice"
        );
    }
}
