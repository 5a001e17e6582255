//! The e-mail as the rest of the core sees it, once the ingest has read it (SPEC §2).

use serde::{Deserialize, Serialize};

/// The e-mail as accepted by the ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRecord {
    pub email_id: String,
    pub subject: String,
    pub sender: String,
    pub sender_email: String,
    pub body: String,
    pub date: String,
    pub received_at_ms: i64,
}
