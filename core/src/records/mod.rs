//! What is recorded about e-mails and deliveries, and what an operator does with it: the log
//! entry of every decision, the delivery archive, bulk replay and erasure.

pub mod archive;
pub mod entries;
pub mod erasure;
pub mod replay;
pub mod spill;
