//! The Durable Object classes: the dedup shards (exactly-once ingest), the console guard
//! (sessions, wrong-password counters) and one object per target URL (health, parked
//! deliveries, probes, drain) and the Gmail mailbox (its sync, cursor, watch and tokens). Each is reached through its client in `crate::adapters`, which
//! also holds the calls it answers; an object may use the context and the adapters, never a
//! handler or the app.

pub mod dedup;
pub mod guard;
pub mod journal;
pub mod mailbox;
pub mod target;
