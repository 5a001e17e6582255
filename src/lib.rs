//! Facteur: a webhook delivery service for pushed e-mails, as a Cloudflare Worker.
//!
//! `domain` holds every decision as pure, host-tested code; `edge` is the thin glue that reads
//! the environment, calls the core, and talks to Cloudflare bindings.

pub mod domain;
pub mod edge;
