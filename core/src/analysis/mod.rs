//! The analysis of one e-mail and the plan it leads to: detection (SPEC §3), link extraction
//! (§5), routing rules (§4), the webhook payload (§7), R2 offload plans (§10), and the pipeline
//! that runs them in order.

pub mod detect;
pub mod email;
pub mod links;
pub mod offload;
pub mod payload;
pub mod pipeline;
pub mod routing;
