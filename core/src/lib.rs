//! Facteur's pure core: every decision Facteur makes, with no Workers runtime.
//!
//! This crate has no `worker` dependency, so it cannot reach the runtime or the glue crate: the
//! boundary is kept by the compiler. Side effects are reached through the small traits in
//! [`ports`]; the Cloudflare adapters live in the `facteur` crate (`src/adapters`), and host
//! tests use in-memory adapters. Everything here runs under plain `cargo test`.

pub mod accept;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod dead_letters;
pub mod dedup;
pub mod delivery;
pub mod detect;
pub mod entries;
pub mod erasure;
pub mod error;
pub mod fallback;
pub mod gating;
pub mod guard;
pub mod health;
pub mod ids;
pub mod ingest;
pub mod inline;
pub mod isolation;
pub mod json_text;
pub mod links;
pub mod log;
pub mod mask;
pub mod messages;
pub mod offload;
pub mod overview;
pub mod payload;
pub mod pipeline;
pub mod ports;
pub mod redaction;
pub mod replay;
pub mod retry;
pub mod routing;
pub mod session;
pub mod signing;
pub mod sort;
pub mod stats;
pub mod text;
pub mod time;
pub mod timeline;
pub mod upstash;
