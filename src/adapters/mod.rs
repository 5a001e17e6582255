//! Adapters: Cloudflare bindings behind the core's traits, and the calls handlers make to the
//! outside (queues, receivers, r2-fetch). An adapter takes the bindings it needs, never the
//! whole context, and imports nothing from `handlers` or `app`.

pub mod audit;
pub mod console_guard;
pub mod dedup;
pub mod journal;
pub mod kv;
pub mod ledger;
pub mod limiter;
pub mod net;
pub mod offload;
pub mod outbound;
pub mod queues;
pub mod redis;
pub mod stores;
pub mod targets;
