//! Queue messages: every message is a JSON text; large parts spill to the KV store so a
//! message stays under the queue's 128 KB limit.

pub mod blob;
pub mod dead_letter;
pub mod delivery;
pub mod process;
pub mod queued;
