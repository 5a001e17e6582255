//! Handlers: one module per endpoint group or queue. Each reads the context, calls the core,
//! and talks to adapters; none imports another (shared steps live in the core or in an
//! adapter).

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod console;
pub mod consumer;
pub mod dead_letters;
pub mod erasure;
pub mod gmail;
pub mod gmail_push;
pub mod health;
pub mod ingest;
pub mod media;
pub mod overview;
pub mod replay;
pub mod scheduled;
pub mod session;
pub mod targets;
pub mod timeline;
