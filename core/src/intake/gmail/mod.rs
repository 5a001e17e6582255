//! Gmail push: e-mails taken straight from the mailbox when Gmail notifies the worker
//! (`users.watch` → Pub/Sub push → `POST /api/gmail/push`), the Apps Script staying the
//! fallback. Every decision is here; the calls to Google, WebCrypto and the mailbox's Durable
//! Object are the glue's.
//!
//! - [`api`]: the Gmail API calls, as URLs and bodies, and the small answers read;
//! - [`jwt`]: the push's OIDC token: its claims, the key that signed it, the key cache;
//! - [`push`]: the Pub/Sub envelope and the notification it carries;
//! - [`mime`] and [`charset`]: a Gmail message turned into what the Apps Script sends;
//! - [`oauth`]: connecting the mailbox (authorization URL, PKCE, state, tokens, their sealing);
//! - [`sync`]: the mailbox's state, the notification as a hint, history and cursor decisions,
//!   backoff, watch renewal, and what the console shows.

pub mod api;
pub mod charset;
pub mod jwt;
pub mod mime;
pub mod oauth;
pub mod push;
pub mod sync;
