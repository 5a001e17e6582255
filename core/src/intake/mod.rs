//! How e-mails come in: the ingest request and its answers (SPEC §2), and accepting an e-mail
//! exactly once.

pub mod accept;
pub mod gmail;
pub mod ingest;
