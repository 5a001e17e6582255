//! The work budget of one e-mail's rule evaluation. A body can be 25 MB and a document can hold
//! 2,000 conditions, so evaluation is metered: every condition charges the work it does, in
//! units of about a nanosecond of CPU in workerd, before doing it, and once the budget is spent
//! no further rule is evaluated (the e-mail goes to the default URL, and the decision says so).
//!
//! The costs per byte are upper bounds measured in workerd (`make bench`, bench/core.mjs prints
//! the units charged next to the time taken): charging them keeps the time of any rule set on
//! any e-mail under [`RULES_BUDGET`] nanoseconds, give or take the per-condition overhead.

/// Units one e-mail's rules may spend: at most ~0.6 s of CPU in workerd.
pub const RULES_BUDGET: u64 = 600_000_000;
/// Cost of a byte read by a substring search, or copied with its ASCII letters lowercased.
pub(super) const SCAN_COST: u64 = 5;
/// Cost of a byte case-folded ([`crate::base::text::fold_case`]; the slowest scripts).
pub(super) const FOLD_COST: u64 = 60;
/// Cost of one unit of regex work as the patched regex-lite counts it (a haystack position, an
/// NFA state stepped, a class range compared, an epsilon transition followed).
pub(super) const REGEX_STEP_COST: u64 = 50;
/// Regex conditions read at most the first this many bytes of their field: regex-lite reads a
/// few MB/s at best, so a regex over a whole 25 MB body could never fit the budget.
pub const REGEX_WINDOW_BYTES: usize = 1 << 20;
/// Whatever its pattern, an accepted regex can read at least this many bytes of any field
/// within the budget; see [`super::REGEX_SIZE_LIMIT`], which follows from it.
pub const REGEX_MIN_READ_BYTES: u64 = 4 << 10;

/// What is left of the budget of one evaluation.
#[derive(Debug)]
pub(super) struct Meter {
    left: u64,
    exhausted: bool,
}

impl Meter {
    /// A meter holding `units`.
    pub(super) fn new(units: u64) -> Self {
        Meter {
            left: units,
            exhausted: false,
        }
    }

    /// Takes `units` from the budget; `false` (and the meter marked exhausted) when they are not
    /// there, in which case nothing is taken and the work must not be done.
    pub(super) fn charge(&mut self, units: u64) -> bool {
        match self.left.checked_sub(units) {
            Some(left) if !self.exhausted => {
                self.left = left;
                true
            }
            _ => {
                self.exhausted = true;
                false
            }
        }
    }

    /// [`Meter::charge`] of `bytes` bytes at `cost` units each.
    pub(super) fn charge_bytes(&mut self, bytes: usize, cost: u64) -> bool {
        self.charge((bytes as u64).saturating_mul(cost))
    }

    /// Runs a regex search given the steps the budget allows, and charges the steps it took;
    /// `None` (meter exhausted) when the search ran out of steps.
    pub(super) fn regex_search(
        &mut self,
        search: impl FnOnce(&mut u64) -> Option<bool>,
    ) -> Option<bool> {
        if self.exhausted {
            return None;
        }
        let allowed = self.left / REGEX_STEP_COST;
        let mut steps = allowed;
        let found = search(&mut steps);
        self.left -= (allowed - steps) * REGEX_STEP_COST;
        if found.is_none() {
            self.exhausted = true;
        }
        found
    }

    /// Whether some work was refused.
    pub(super) fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Units spent so far out of `budget` (the meter's starting value).
    pub(super) fn spent(&self, budget: u64) -> u64 {
        budget - self.left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_refused_then_refuses_everything() {
        let mut m = Meter::new(100);
        assert!(m.charge_bytes(10, 5));
        assert!(!m.charge(51), "more than is left");
        assert!(m.exhausted());
        assert!(!m.charge(1), "an exhausted meter stays exhausted");
        assert_eq!(m.spent(100), 50);
    }

    #[test]
    fn regex_searches_are_charged_what_they_took() {
        let mut m = Meter::new(10 * REGEX_STEP_COST);
        let found = m.regex_search(|steps| {
            assert_eq!(*steps, 10);
            *steps -= 4;
            Some(true)
        });
        assert_eq!(found, Some(true));
        assert_eq!(m.spent(10 * REGEX_STEP_COST), 4 * REGEX_STEP_COST);
        assert_eq!(
            m.regex_search(|steps| {
                *steps = 0;
                None
            }),
            None
        );
        assert!(m.exhausted());
        assert_eq!(m.regex_search(|_| Some(true)), None);
    }
}
