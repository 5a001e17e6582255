//! How one webhook attempt is made and decided: its outcome and the explicit decision after it
//! (ack, retry with a computed delay, give up), the retry schedule as data, the signature, the
//! health of each target (pause, probe, drain), each target's replay budget, which first
//! attempts run inline, and crash isolation of queue batches.

pub mod budget;
pub mod inline;
pub mod isolation;
pub mod outcome;
pub mod replay_budget;
pub mod retry;
pub mod signing;
pub mod target_health;
