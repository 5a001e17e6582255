//! The platform's rate limiters (Workers Rate Limiting, `[[ratelimits]]` in wrangler.toml) in
//! front of the guard: they count failed credentials per Cloudflare location, approximately and
//! at no cost to the guard, so a flood is refused before it reaches the guard's exact count.

use worker::{console_warn, Env};

/// The limiters' bindings.
pub struct Limiters<'a> {
    pub env: &'a Env,
}

impl Limiters<'_> {
    /// Counts one failure under `key` on `binding`; false once the limit is passed. A missing
    /// or failing limiter lets it through: the guard still counts every failure it sees.
    pub async fn allow(&self, binding: &str, key: &str) -> bool {
        let limiter = match self.env.rate_limiter(binding) {
            Ok(l) => l,
            Err(_) => return true,
        };
        match limiter.limit(key.to_string()).await {
            Ok(outcome) => outcome.success,
            Err(e) => {
                console_warn!("rate limiter {binding}: {e}");
                true
            }
        }
    }
}
