//! What is stored and how: the delivery log's entries and queries (SPEC §8), the store traits
//! the adapters implement ([`ports`]), the Redis-first stores with their KV fallback, the
//! Upstash REST protocol, the journal's day tables (the embedded default's log and the archive
//! in one Durable Object's SQLite), the dedup markers of SPEC §2, and the billed operations the
//! stores count ([`ops`]).

pub mod dedup;
pub mod fallback;
pub mod journal;
pub mod log;
pub mod ops;
pub mod ports;
pub mod upstash;
