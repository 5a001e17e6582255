//! The operator's side: the console's sign-in and sessions (and the guard object's state),
//! failed credentials and their limits, delivery statistics, alerts, the overview, an e-mail's
//! timeline, dead-letter views, the audit trail's filters, URL redaction, and the console's
//! pages and security headers.

pub mod alerts;
pub mod attempts;
pub mod audit;
pub mod console;
pub mod costs;
pub mod dead_letters;
pub mod guard;
pub mod overview;
pub mod redaction;
pub mod session;
pub mod stats;
pub mod timeline;
