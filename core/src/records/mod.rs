//! What is recorded about e-mails and deliveries, and what an operator does with it: the log
//! entry of every decision, the delivery archive, bulk replay and erasure, and the audit trail
//! of every change.

pub mod archive;
pub mod audit;
pub mod entries;
pub mod erasure;
pub mod replay;
pub mod spill;
