//! The journal object: one instance keeping the embedded default's delivery log, the delivery
//! archive and the day's billed operations in its SQLite database, one table per UTC day and
//! kind (the layout and its reasons: `facteur_core::store::journal`). Its calls and client are in
//! `crate::adapters::journal`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use serde_json::json;
use worker::{
    durable_object, Env, Request, Response, Result, SqlCursor, SqlStorage, SqlStorageValue, State,
};

use crate::adapters::journal::{JournalCall, JournalReply, JournalRequest, LimitHit};
use crate::adapters::ledger::{count, take_unflushed, Invocation};
use facteur_core::records::archive::{ArchivedDelivery, EmailArchive};
use facteur_core::store::journal::{
    day_of, days_back, expired, placeholders, Kind, ARCHIVE_DAYS, CREATE_LIMITS, LOG_DAYS,
};
use facteur_core::store::log::{LogEntry, LogQuery};
use facteur_core::store::ops::Ops;

type Value = SqlStorageValue;

/// The journal.
#[durable_object(fetch)]
pub struct JournalObject {
    state: State,
    /// The tables that exist (read once per instance, kept up to date).
    tables: RefCell<Option<BTreeSet<String>>>,
    /// The day whose tables were last made ready.
    ready_day: Cell<u32>,
}

impl worker::DurableObject for JournalObject {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            tables: RefCell::new(None),
            ready_day: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let invocation = Invocation::begin(false);
        let resp: Result<Response> = async {
            let request: JournalRequest = req.json().await?;
            let reply = self.serve(request)?;
            Response::from_json(&reply)
        }
        .await;
        invocation.close("object journal (call)");
        resp
    }
}

impl JournalObject {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Runs a statement that reads nothing back; counts what it wrote.
    fn run(&self, query: &str, params: Vec<Value>) -> Result<()> {
        let cursor = self.sql().exec(query, params)?;
        // Stepping the cursor runs the statement to its end.
        for row in cursor.clone() {
            row?;
        }
        settle(&cursor);
        Ok(())
    }

    /// The rows of a query, as raw values; counts what it read.
    fn rows(&self, query: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>> {
        let cursor = self.sql().exec(query, params)?;
        let rows: Result<Vec<Vec<Value>>> = cursor.raw().collect();
        settle(&cursor);
        rows
    }

    /// The names of the tables that exist.
    fn tables(&self) -> Result<BTreeSet<String>> {
        if let Some(t) = self.tables.borrow().as_ref() {
            return Ok(t.clone());
        }
        let names: BTreeSet<String> = self
            .rows(
                "SELECT name FROM sqlite_master WHERE type = 'table'",
                vec![],
            )?
            .into_iter()
            .filter_map(|r| text(r.first()))
            .collect();
        *self.tables.borrow_mut() = Some(names.clone());
        Ok(names)
    }

    /// Makes today's tables exist and drops the days that left their retention (once a day
    /// per instance).
    fn ready(&self, now_ms: i64) -> Result<u32> {
        let today = day_of(now_ms);
        if self.ready_day.get() == today {
            return Ok(today);
        }
        let mut tables = self.tables()?;
        for kind in Kind::ALL {
            let name = kind.table(today);
            if !tables.contains(&name) {
                self.run(&kind.create(today), vec![])?;
                tables.insert(name);
            }
        }
        if !tables.contains("limits") {
            self.run(CREATE_LIMITS, vec![])?;
            tables.insert("limits".into());
        }
        for name in expired(tables.iter().map(String::as_str), now_ms) {
            // Kind::parse made sure the name is a prefix and digits.
            self.run(&format!("DROP TABLE IF EXISTS {name}"), vec![])?;
            tables.remove(&name);
        }
        *self.tables.borrow_mut() = Some(tables);
        self.ready_day.set(today);
        Ok(today)
    }

    /// The tables of `kind` among the last `days` days, newest first.
    fn day_tables(&self, kind: Kind, now_ms: i64, days: u32) -> Result<Vec<String>> {
        let tables = self.tables()?;
        Ok(days_back(now_ms, days)
            .into_iter()
            .map(|d| kind.table(d))
            .filter(|t| tables.contains(t))
            .collect())
    }

    fn serve(&self, request: JournalRequest) -> Result<JournalReply> {
        let now = request.now_ms;
        let today = self.ready(now)?;
        // What rode with the call, and what this object counted itself since its last call.
        let mut ops = request.ops;
        ops.add(&take_unflushed());
        let mut ops_kept = false;
        let keep_ops = |ops_kept: &mut bool| -> Value {
            if *ops_kept || ops.is_empty() {
                Value::Null
            } else {
                *ops_kept = true;
                Value::String(serde_json::to_string(&ops).unwrap_or_default())
            }
        };
        for (store, detail) in &request.limits {
            self.run(
                "INSERT OR IGNORE INTO limits (day, store, at, detail) VALUES (?, ?, ?, ?)",
                vec![
                    Value::Integer(i64::from(today)),
                    Value::String(store.clone()),
                    Value::Integer(now),
                    Value::String(detail.clone()),
                ],
            )?;
        }
        let mut reply = JournalReply::default();
        match request.call {
            JournalCall::Append { entries } => {
                let table = Kind::Log.table(today);
                let insert = format!(
                    "INSERT INTO {table} (ts, id, email_id, delivery_id, status, entry, ops) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)"
                );
                for e in &entries {
                    let entry = serde_json::to_string(e).map_err(worker::Error::from)?;
                    self.run(
                        &insert,
                        vec![
                            Value::Integer(e.unix_ms()),
                            Value::String(e.id.clone()),
                            Value::String(e.email_id.clone()),
                            e.delivery_id.clone().map_or(Value::Null, Value::String),
                            Value::String(e.status.as_str().into()),
                            Value::String(entry),
                            keep_ops(&mut ops_kept),
                        ],
                    )?;
                }
            }
            JournalCall::Recent { query, now_ms } => {
                reply.entries = self.recent(&query, now_ms)?;
            }
            JournalCall::Archive {
                email,
                deliveries,
                bodies,
            } => {
                for (key, body) in &bodies {
                    self.run(
                        &format!(
                            "INSERT OR IGNORE INTO {} (key, body) VALUES (?, ?)",
                            Kind::Bodies.table(today)
                        ),
                        vec![Value::String(key.clone()), Value::String(body.clone())],
                    )?;
                }
                for d in &deliveries {
                    let record = serde_json::to_string(d).map_err(worker::Error::from)?;
                    self.run(
                        &format!(
                            "INSERT OR REPLACE INTO {} (delivery_id, email_id, record) VALUES (?, ?, ?)",
                            Kind::Deliveries.table(today)
                        ),
                        vec![
                            Value::String(d.delivery_id.clone()),
                            Value::String(d.email_id.clone()),
                            Value::String(record),
                        ],
                    )?;
                }
                let record = serde_json::to_string(&email).map_err(worker::Error::from)?;
                self.run(
                    &format!(
                        "INSERT OR REPLACE INTO {} (email_id, sender_key, record, ops) VALUES (?, ?, ?, ?)",
                        Kind::Emails.table(today)
                    ),
                    vec![
                        Value::String(email.email_id.clone()),
                        Value::String(email.sender_key.clone()),
                        Value::String(record),
                        keep_ops(&mut ops_kept),
                    ],
                )?;
            }
            JournalCall::Deliveries { delivery_ids } => {
                for id in &delivery_ids {
                    let found = self
                        .find(Kind::Deliveries, "record", "delivery_id", id, now)?
                        .and_then(|t| serde_json::from_str::<ArchivedDelivery>(&t).ok());
                    reply.deliveries.push(found);
                }
            }
            JournalCall::Email { email_id } => {
                reply.email = self
                    .find(Kind::Emails, "record", "email_id", &email_id, now)?
                    .and_then(|t| serde_json::from_str::<EmailArchive>(&t).ok());
            }
            JournalCall::Body { key } => {
                reply.body = self.find(Kind::Bodies, "body", "key", &key, now)?;
            }
            JournalCall::SenderEmails { sender_key, max } => {
                let mut ids: Vec<String> = Vec::new();
                for table in self.day_tables(Kind::Emails, now, ARCHIVE_DAYS)? {
                    let q = format!("SELECT email_id FROM {table} WHERE sender_key = ?");
                    for row in self.rows(&q, vec![Value::String(sender_key.clone())])? {
                        if let Some(id) = text(row.first()) {
                            if ids.len() < max && !ids.contains(&id) {
                                ids.push(id);
                            }
                        }
                    }
                }
                reply.email_ids = ids;
            }
            JournalCall::Erase { email_ids } => {
                reply.erased = self.erase(&email_ids, now)?;
            }
            JournalCall::Days { days } | JournalCall::Limits { days } => {
                if matches!(request.call, JournalCall::Days { .. }) {
                    reply.days = self.days(now, days)?;
                }
                let oldest = i64::from(today) - i64::from(days.max(1)) + 1;
                reply.limits = self
                    .rows(
                        "SELECT day, store, at, detail FROM limits WHERE day >= ? ORDER BY day DESC, at",
                        vec![Value::Integer(oldest)],
                    )?
                    .into_iter()
                    .filter_map(|r| {
                        Some(LimitHit {
                            day: integer(r.first())? as u32,
                            store: text(r.get(1))?,
                            at_ms: integer(r.get(2))?,
                            detail: text(r.get(3))?,
                        })
                    })
                    .collect();
            }
            JournalCall::Count => {}
            JournalCall::LimitHit { store, detail } => {
                self.run(
                    "INSERT OR IGNORE INTO limits (day, store, at, detail) VALUES (?, ?, ?, ?)",
                    vec![
                        Value::Integer(i64::from(today)),
                        Value::String(store),
                        Value::Integer(now),
                        Value::String(detail),
                    ],
                )?;
            }
        }
        // A call that wrote no row of its own keeps its operations in the day's costs table.
        let pending = keep_ops(&mut ops_kept);
        if pending != Value::Null {
            self.run(
                &format!("INSERT INTO {} (ops) VALUES (?)", Kind::Costs.table(today)),
                vec![pending],
            )?;
        }
        Ok(reply)
    }

    /// The newest record of `key` in the tables of `kind` (newest day first).
    fn find(
        &self,
        kind: Kind,
        column: &str,
        key_column: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<String>> {
        for table in self.day_tables(kind, now_ms, kind.days_kept())? {
            let q = format!("SELECT {column} FROM {table} WHERE {key_column} = ?");
            if let Some(found) = self
                .rows(&q, vec![Value::String(key.to_string())])?
                .into_iter()
                .find_map(|r| text(r.first()))
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Log entries newest first: each day table walked backwards from its newest row, stopped
    /// at the query's cut-off or once enough entries matched.
    fn recent(&self, query: &LogQuery, now_ms: i64) -> Result<Vec<LogEntry>> {
        let cutoff = now_ms - query.days as i64 * facteur_core::base::time::DAY_MS;
        let days = (query.days as u32 + 1).min(LOG_DAYS);
        let mut out = Vec::new();
        for table in self.day_tables(Kind::Log, now_ms, days)? {
            let mut q = format!("SELECT ts, entry FROM {table} WHERE 1 = 1");
            let mut params = Vec::new();
            for (column, value) in [
                ("status", query.status.map(|s| s.as_str().to_string())),
                ("email_id", query.email_id.clone()),
                ("delivery_id", query.delivery_id.clone()),
            ] {
                if let Some(v) = value {
                    q.push_str(&format!(" AND {column} = ?"));
                    params.push(Value::String(v));
                }
            }
            q.push_str(" ORDER BY rowid DESC");
            let cursor = self.sql().exec(&q, params)?;
            let mut done = false;
            for row in cursor.raw() {
                let row = row?;
                if integer(row.first()).is_some_and(|ts| ts < cutoff) {
                    done = true;
                    break;
                }
                let Some(entry) =
                    text(row.get(1)).and_then(|t| serde_json::from_str::<LogEntry>(&t).ok())
                else {
                    continue;
                };
                if query.accepts(&entry, now_ms) {
                    out.push(entry);
                    if out.len() >= query.wanted() {
                        done = true;
                        break;
                    }
                }
            }
            settle(&cursor);
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Erases what is kept about these e-mails: log entries, archive records, and the bodies
    /// the records name.
    fn erase(&self, email_ids: &[String], now_ms: i64) -> Result<serde_json::Value> {
        if email_ids.is_empty() {
            return Ok(json!({"log_entries": 0, "archive_records": 0, "bodies": 0}));
        }
        let ids: Vec<Value> = email_ids.iter().cloned().map(Value::String).collect();
        let list = placeholders(ids.len());
        let mut log_entries = 0;
        for table in self.day_tables(Kind::Log, now_ms, LOG_DAYS)? {
            log_entries += self.delete(
                &format!("DELETE FROM {table} WHERE email_id IN ({list})"),
                ids.clone(),
            )?;
        }
        let mut body_keys: BTreeSet<String> = BTreeSet::new();
        let mut records = 0;
        for kind in [Kind::Emails, Kind::Deliveries] {
            for table in self.day_tables(kind, now_ms, ARCHIVE_DAYS)? {
                let q = format!("SELECT record FROM {table} WHERE email_id IN ({list})");
                for row in self.rows(&q, ids.clone())? {
                    if let Some(v) = text(row.first())
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    {
                        if let Some(k) = v["body_key"].as_str() {
                            body_keys.insert(k.to_string());
                        }
                    }
                }
                records += self.delete(
                    &format!("DELETE FROM {table} WHERE email_id IN ({list})"),
                    ids.clone(),
                )?;
            }
        }
        let mut bodies = 0;
        if !body_keys.is_empty() {
            let keys: Vec<Value> = body_keys.iter().cloned().map(Value::String).collect();
            let list = placeholders(keys.len());
            for table in self.day_tables(Kind::Bodies, now_ms, ARCHIVE_DAYS)? {
                bodies += self.delete(
                    &format!("DELETE FROM {table} WHERE key IN ({list})"),
                    keys.clone(),
                )?;
            }
        }
        Ok(json!({
            "log_entries": log_entries,
            "archive_records": records,
            "bodies": bodies,
            "body_keys": body_keys,
        }))
    }

    fn delete(&self, query: &str, params: Vec<Value>) -> Result<u64> {
        let cursor = self.sql().exec(query, params)?;
        for row in cursor.clone() {
            row?;
        }
        let n = cursor.rows_written() as u64;
        settle(&cursor);
        Ok(n)
    }

    /// The billed operations of the last `days` days, newest first: the `ops` kept beside the
    /// rows of each day, added up.
    fn days(&self, now_ms: i64, days: u32) -> Result<Vec<(u32, Ops)>> {
        let tables = self.tables()?;
        let mut out = Vec::new();
        for day in days_back(now_ms, days) {
            let mut total = Ops::default();
            for kind in [Kind::Log, Kind::Emails, Kind::Costs] {
                let table = kind.table(day);
                if !tables.contains(&table) {
                    continue;
                }
                let q = format!("SELECT ops FROM {table} WHERE ops IS NOT NULL");
                for row in self.rows(&q, vec![])? {
                    if let Some(ops) =
                        text(row.first()).and_then(|t| serde_json::from_str::<Ops>(&t).ok())
                    {
                        total.add(&ops);
                    }
                }
            }
            out.push((day, total));
        }
        Ok(out)
    }
}

/// Counts the rows a statement read and wrote (after it ran).
fn settle(cursor: &SqlCursor) {
    let (read, written) = (cursor.rows_read() as u64, cursor.rows_written() as u64);
    count(|o| {
        o.do_rows_read += read;
        o.do_rows_written += written;
    });
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Integer(n) => Some(*n),
        Value::Float(f) => Some(*f as i64),
        _ => None,
    }
}
