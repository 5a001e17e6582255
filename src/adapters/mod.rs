//! Adapters: Cloudflare bindings behind the core's traits, and the calls handlers make to the
//! outside (queues, receivers, r2-fetch, Google, WebCrypto); the intake step the ingest and
//! the Gmail mailbox share. An adapter takes the bindings it needs, never the
//! whole context, and imports nothing from `handlers` or `app`.

pub mod audit;
pub mod console_guard;
pub mod crypto;
pub mod dedup;
pub mod google;
pub mod intake;
pub mod journal;
pub mod kv;
pub mod ledger;
pub mod limiter;
pub mod mailbox;
pub mod net;
pub mod objects;
pub mod offload;
pub mod outbound;
pub mod queues;
pub mod redis;
pub mod stores;
pub mod targets;
