//! Configuration: the typed [`Settings`] read once per invocation from variables and secrets
//! (`settings`), the three gating documents (`webhook_config`, `processing_prefs`,
//! `runtime_flags`, SPEC §9) with their validation (`documents`), the one table per document
//! where its field names are written (`schema`), and the field kinds and value parsers they
//! share (`kinds`), among them what a webhook URL may be (`webhook_url`), and how the console
//! shows each field with its source (`view`). Environment variables give the documents' defaults.
//!
//! Everything is re-exported here: callers use `facteur_core::config::…` paths.

mod documents;
mod kinds;
mod schema;
mod settings;
mod view;
mod webhook_url;

pub use documents::*;
pub use kinds::*;
pub use schema::*;
pub use settings::*;
pub use view::*;
pub use webhook_url::*;
