//! The operator's side: the console's sign-in and sessions (and the guard object's state),
//! delivery statistics, alerts, the overview, an e-mail's timeline, dead-letter views, URL
//! redaction, and the console's pages and security headers.

pub mod alerts;
pub mod console;
pub mod costs;
pub mod dead_letters;
pub mod guard;
pub mod overview;
pub mod redaction;
pub mod session;
pub mod stats;
pub mod timeline;
