//! Facteur's pure core: every decision Facteur makes, with no Workers runtime.
//!
//! This crate has no `worker` dependency, so it cannot reach the runtime or the glue crate: the
//! boundary is kept by the compiler. Side effects are reached through the small traits in
//! [`store::ports`]; the Cloudflare adapters live in the `facteur` crate (`src/adapters`), and
//! host tests use in-memory adapters. Everything here runs under plain `cargo test`.
//!
//! The modules are grouped by concern, lowest first; a group imports only from the groups
//! listed before it (`scripts/check-layers.sh` fails otherwise):
//!
//! | group | what it decides |
//! |---|---|
//! | [`error`] | the API error: stable codes, one HTTP status each |
//! | [`base`] | text, time, ids and keys, masking, constant-time compare, query strings |
//! | [`delivery`] | one attempt's outcome and decision, retries, signing, target health, replay budgets |
//! | [`config`] | variable and binding names, the config documents and their schema, secret strength |
//! | [`gating`] | absence, the sending window, flags, holds (SPEC §6) |
//! | [`analysis`] | one e-mail: detection, links, routing, payload, offload, its plan |
//! | [`store`] | the delivery log, the store ports, Redis or the journal with KV fallback, dedup, billed operations |
//! | [`jobs`] | queue messages: spilled parts, jobs, dead letters |
//! | [`records`] | the log entry of every decision, the archive, replay, erasure, the audit trail |
//! | [`intake`] | the ingest request and its answers, accepting an e-mail once |
//! | [`operator`] | the console: sessions, failed-credential limits, statistics, alerts, costs, the operator's views |
//! | [`http`] | the route table |
//! | [`settings`] | the one typed configuration, read once per invocation |

pub mod error;

pub mod base;

pub mod delivery;

pub mod config;

pub mod gating;

pub mod analysis;

pub mod store;

pub mod jobs;

pub mod records;

pub mod intake;

pub mod operator;

pub mod http;

pub mod settings;
