//! What is stored and how: the delivery log's entries and queries (SPEC §8), the store traits
//! the adapters implement ([`ports`]), the Redis-first stores with their KV fallback, the
//! Upstash REST protocol, and the dedup markers of SPEC §2.

pub mod dedup;
pub mod fallback;
pub mod journal;
pub mod log;
pub mod ops;
pub mod ports;
pub mod upstash;
