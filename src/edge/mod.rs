//! Cloudflare glue (filled next).
