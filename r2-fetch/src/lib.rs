//! r2-fetch: the Facteur sub-worker that copies a provider's file into R2 (SPEC §10).
//!
//! Every decision lives in pure, host-tested modules (no `worker` import): [`policy`],
//! [`request`], [`routing`], [`filename`], [`upload`], [`metadata`], [`config`], [`error`].
//! [`edge`] is the thin glue that talks to the runtime: the source fetch, R2, the responses.

pub mod config;
pub mod consts;
pub mod edge;
pub mod error;
pub mod filename;
pub mod metadata;
pub mod pct;
pub mod policy;
pub mod request;
pub mod routing;
pub mod upload;
