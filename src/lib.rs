//! Facteur, the main worker: the Cloudflare glue around the pure core (`facteur-core`).
//!
//! The layers depend one way: [`app`] (the entry points and HTTP dispatch) → [`handlers`] (one
//! module per endpoint group or queue, none importing another) and [`objects`] (the Durable
//! Object classes) → [`context`] → [`adapters`] (bindings behind the core's traits, and the
//! objects' clients) → `facteur_core`, which decides everything and has no `worker` dependency. `scripts/check-layers.sh` (run by `make test`) fails on an import
//! against that direction.

pub mod adapters;
pub mod app;
pub mod context;
pub mod handlers;
pub mod http;
pub mod objects;

pub use objects::dedup::DedupShard;
pub use objects::guard::ConsoleGuard;
pub use objects::journal::JournalObject;
pub use objects::mailbox::GmailMailbox;
pub use objects::target::TargetObject;
