//! Foundations every other group uses, with no knowledge of e-mails or deliveries: Unicode
//! text folding, time, sorting, JSON text, ids and store keys, URL masking, constant-time
//! comparison, the client's address.

pub mod auth;
pub mod client;
pub mod ids;
pub mod json;
pub mod json_text;
pub mod mask;
pub mod query;
pub mod sort;
pub mod text;
pub mod time;
