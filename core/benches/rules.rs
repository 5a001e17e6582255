//! Native figures of the routing rules' worst case, alongside the workerd ones of
//! `node bench/core.mjs`: the costliest documents the validator accepts (shared with the workerd
//! benchmark, bench/core-worker/src/inputs.rs) on 25 MB bodies, with the budget units charged.
//! Native code is a few times faster than the worker's wasm; the budget is set for workerd.
//!
//! Run with `cargo bench --bench rules`.

use std::time::Instant;

use facteur_core::analysis::routing::{route, validate_rules, RULES_BUDGET};

#[path = "../../bench/core-worker/src/inputs.rs"]
#[allow(dead_code)]
mod inputs;

const BYTES: usize = 25_000_000;

fn main() {
    println!(
        "rules bench (native): worst accepted documents on {BYTES}-byte bodies, budget {}M units; \
         heaviest regex [a-z]{{{}}}[0-9]",
        RULES_BUDGET / 1_000_000,
        inputs::heaviest_repetition()
    );
    for (rules, kind) in [
        ("regex", "letters"),
        ("contains", "text"),
        ("fold", "hangul"),
        ("mixed", "html"),
    ] {
        let (doc, tail) = inputs::worst_rules(rules).expect("a worst document");
        let rules_doc = validate_rules(&doc).expect("accepted");
        let mut body = inputs::body(kind, BYTES - tail.len(), 0).expect("a body");
        body.push_str(&tail);
        let started = Instant::now();
        let d = route(
            &rules_doc,
            Some("https://hook.example/d"),
            "a@b.c",
            "s",
            &body,
        )
        .expect("a default URL");
        println!(
            "{rules:>9} rules, {kind:<8} body: {:>6.0} ms, {:>4}M units{}",
            started.elapsed().as_secs_f64() * 1e3,
            d.budget_spent / 1_000_000,
            if d.budget_exhausted {
                ", budget exhausted"
            } else {
                ""
            }
        );
    }
}
