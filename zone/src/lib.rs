//! The time zone rules behind `POLLING_TIMEZONE`, reachable by both the pure core and the
//! worker: the IANA database compiled in (`chrono-tz`) on the host, where the tests run, and the
//! runtime's own ICU data through `Intl.DateTimeFormat` in the worker, which keeps ~120 KB of
//! zone tables out of the bundle and stays current without a rebuild. Both implement
//! `chrono::TimeZone`, so the same gating and detection code runs on either.
//!
//! This crate depends on `js-sys` (wasm only), never on `worker`: the core can use it and stay
//! free of the Workers runtime.

#[cfg(target_arch = "wasm32")]
mod intl;
#[cfg(target_arch = "wasm32")]
pub use intl::{IntlOffset, IntlZone};

/// The zone type used everywhere: `chrono_tz::Tz` on the host.
#[cfg(not(target_arch = "wasm32"))]
pub type Zone = chrono_tz::Tz;
/// The zone type used everywhere: the runtime's `Intl` rules in the worker.
#[cfg(target_arch = "wasm32")]
pub type Zone = IntlZone;

/// Parses an IANA zone name (`Europe/Paris`); `None` for an unknown zone.
pub fn parse_zone(name: &str) -> Option<Zone> {
    name.parse().ok()
}
