//! Facteur, the main worker: the Cloudflare glue around the pure core (`facteur-core`).
//!
//! The layers depend one way: [`app`] (the entry points and HTTP dispatch) → [`handlers`] (one
//! module per endpoint group or queue, none importing another) → [`context`] and [`adapters`]
//! (bindings behind the core's traits) → `facteur_core`, which decides everything and has no
//! `worker` dependency. `scripts/check-layers.sh` (run by `make test`) fails on an import
//! against that direction.

pub mod adapters;
pub mod app;
pub mod context;
pub mod handlers;
pub mod http;

pub use adapters::console_guard::ConsoleGuard;
pub use adapters::dedup_object::DedupShard;
pub use handlers::consumer::TargetObject;
