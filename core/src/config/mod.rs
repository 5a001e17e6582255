//! Configuration: the name of every variable, secret and binding (`names`), the three gating
//! documents (`webhook_config`, `processing_prefs`, `runtime_flags`, SPEC §9) as typed structs
//! (`documents`) resolved and validated through the one table per document where their field
//! names are written (`schema`, `resolve`), the field kinds and value parsers they share
//! (`kinds`), among them what a webhook URL may be (`webhook_url`), and how the console shows
//! each field with its source (`view`), and how strong a token or password must be (`secrets`). Environment variables give the documents' defaults; the
//! typed settings that read them live in [`crate::settings`].
//!
//! Everything is re-exported here: callers use `facteur_core::config::…` paths.

mod doc;
mod documents;
mod kinds;
pub mod names;
mod resolve;
mod schema;
mod secrets;
mod view;
mod webhook_url;

pub use doc::*;
pub use documents::*;
pub use kinds::*;
pub use names::{bindings, vars};
pub use resolve::*;
pub use schema::*;
pub use secrets::*;
pub use view::*;
pub use webhook_url::*;
