//! Inputs of the benchmarks, generated rather than stored: e-mail bodies, and the costliest
//! routing rules the validator accepts. The same module is compiled into the workerd benchmark
//! worker (bench/core-worker) and the native `cargo bench --bench rules` (core/benches), so
//! both time the same inputs.

use facteur_core::analysis::routing::{
    validate_rules, MAX_CONDITIONS, MAX_REGEX_CONDITIONS, MAX_RULES,
};
use serde_json::{json, Value};

/// A body of `kind` grown to about `bytes` bytes (never much more).
///
/// - `letters`: `aaaa…` (the worst case of a counted repetition such as `[a-z]{1000}`);
/// - `words`: words of `param` letters (default 1,000) separated by spaces;
/// - `html`: a realistic HTML e-mail (markup, French prose, entities, ~20 provider links), its
///   recadrage delivery time as the very last paragraph;
/// - `links`: distinct FromSmash links separated by spaces;
/// - `hangul`: Korean text (precomposed syllables: three characters each once decomposed);
/// - `text`: pseudo-random ASCII words, a stand-in for plain prose.
pub fn body(kind: &str, bytes: usize, param: usize) -> Option<String> {
    let mut out = String::with_capacity(bytes + 4096);
    match kind {
        "letters" => out.extend(std::iter::repeat_n('a', bytes)),
        "words" => {
            let word = format!("{} ", "a".repeat(if param == 0 { 1000 } else { param }));
            while out.len() + word.len() <= bytes.max(word.len()) {
                out.push_str(&word);
            }
        }
        "html" => out = html_body("Rendez-vous à 14:30.", bytes, true),
        "links" => {
            let mut i = 0u64;
            while out.len() < bytes {
                out.push_str(&format!("https://fromsmash.com/{i:08x} "));
                i += 1;
            }
        }
        "hangul" => {
            while out.len() < bytes {
                out.push_str("한국어 메일 본문입니다 ");
            }
        }
        "text" => {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            while out.len() < bytes {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 2 + (x % 9) as usize;
                out.extend((0..len).map(|i| (b'a' + ((x >> (i * 5)) % 26) as u8) as char));
                out.push(if x % 13 == 0 { '\n' } else { ' ' });
            }
        }
        _ => return None,
    }
    Some(out)
}

/// A realistic HTML e-mail grown to `target` bytes: table layout, inline styles, French prose
/// with accents and entities, provider links (some entity-encoded, some duplicated, some preview
/// images that extraction drops), and `time_sentence` after 40 paragraphs or, with `time_last`,
/// as the very last one (so every earlier delivery-time rule reads the whole body).
pub fn html_body(time_sentence: &str, target: usize, time_last: bool) -> String {
    // `{n}` makes each link distinct.
    let links = [
        "https://www.dropbox.com/scl/fo/a1b2c3d4e{n}/AAB-xyz?rlkey=k3y{n}&amp;dl=0",
        "https://www.dropbox.com/scl/fi/f6g7h8/photo_{n:03}.jpg?rlkey=k3y{n}&amp;dl=0",
        "https://www.dropbox.com/scl/fi/h1/logo.png?rlkey=k{n}&amp;raw=1",
        "https://fromsmash.com/Lot-12-Recadrage-{n}",
        "https://www.swisstransfer.com/d/0b1c2d3e-4f5a-6b7c-8d9e-{n:012}",
        "https://www.dropbox.com/s/abc{n}/file.zip?dl=0",
    ];
    let mut body = String::with_capacity(target + 8 * 1024);
    body.push_str(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>td{font-family:Arial;}\
         .btn{background:#0061fe;color:#fff}</style></head><body><table width=\"100%\">",
    );
    let mut i = 0;
    let mut links_written = 0;
    while body.len() < target {
        body.push_str(&format!(
            "<tr><td style=\"padding:8px;color:#333\"><p>Bonjour,&nbsp;voici la série n°{i} \
             des photos à recadrer&nbsp;: «&nbsp;Média Solution&nbsp;» &amp; partenaires. \
             Merci de vérifier l&#39;exposition, la colorimétrie et le cadrage avant envoi. \
             Réf. interne {i:05}-É, mise à jour du {day:02}/03/2026.</p></td></tr>\n",
            day = i % 28 + 1
        ));
        if i % 10 == 0 && links_written < 24 {
            let n = links_written;
            let url = links[n % links.len()]
                .replace("{n}", &n.to_string())
                .replace("{n:03}", &format!("{n:03}"))
                .replace("{n:012}", &format!("{n:012}"));
            body.push_str(&format!(
                "<tr><td><a class=\"btn\" href=\"{url}\">Télécharger</a> ou copiez {url}.</td></tr>\n"
            ));
            links_written += 1;
        }
        if i == 40 && !time_last {
            body.push_str(&format!("<tr><td><b>{time_sentence}</b></td></tr>\n"));
        }
        i += 1;
    }
    if time_last {
        body.push_str(&format!("<tr><td><b>{time_sentence}</b></td></tr>\n"));
    }
    body.push_str("</table><p style=\"font-size:10px\">Envoyé depuis Facteur</p></body></html>");
    body
}

/// The worst routing-rule documents the validator accepts, by name, with the text they need at
/// the end of the body to make their conditions true (so that every condition is evaluated).
///
/// - `regex`: [`MAX_RULES`] rules of one literal-free body regex each, the largest counted
///   repetition accepted (`[a-z]{k}[0-9]`, distinct k), [`MAX_REGEX_CONDITIONS`] in all: on a
///   body of letters every state of every regex stays active;
/// - `contains`: [`MAX_RULES`] rules of [`MAX_CONDITIONS`] case-insensitive body `contains`,
///   each true only at the very end of the body but the last of each rule: every condition scans
///   the whole body;
/// - `fold`: the same with needles that have no ASCII letter to search for, so the whole body
///   is case-folded;
/// - `mixed`: half of each, alternating.
pub fn worst_rules(name: &str) -> Option<(Value, String)> {
    let k = heaviest_repetition();
    let hook = |i: usize| format!("https://hook.example/r{i}");
    let regex_rule = |i: usize| {
        json!({"id": format!("r{i}"), "name": format!("regex {i}"), "actions": {"webhook_url": hook(i)},
            "conditions": [{"field": "body", "operator": "regex",
                "value": format!("[a-z]{{{}}}[0-9]", k - i % MAX_REGEX_CONDITIONS)}]})
    };
    let contains_rule = |i: usize, needle: &dyn Fn(usize, usize) -> String| {
        let conditions: Vec<Value> = (0..MAX_CONDITIONS)
            .map(|j| {
                let value = if j + 1 == MAX_CONDITIONS {
                    "absent".to_string()
                } else {
                    needle(i, j)
                };
                json!({"field": "body", "operator": "contains", "value": value})
            })
            .collect();
        json!({"id": format!("r{i}"), "name": format!("contains {i}"), "conditions": conditions,
            "actions": {"webhook_url": hook(i)}})
    };
    let ascii = |i: usize, j: usize| format!("tail-{i}-{j}");
    let greek = |i: usize, j: usize| format!("ωψ{}", "σ".repeat(1 + (i * MAX_CONDITIONS + j) % 7));
    let (rules, tail): (Vec<Value>, String) = match name {
        "regex" => ((0..MAX_RULES).map(regex_rule).collect(), String::new()),
        "contains" => (
            (0..MAX_RULES).map(|i| contains_rule(i, &ascii)).collect(),
            tail_of(&ascii),
        ),
        "fold" => (
            (0..MAX_RULES).map(|i| contains_rule(i, &greek)).collect(),
            tail_of(&greek),
        ),
        "mixed" => (
            (0..MAX_RULES)
                .map(|i| {
                    if i % 2 == 0 {
                        regex_rule(i)
                    } else {
                        contains_rule(i, &ascii)
                    }
                })
                .collect(),
            tail_of(&ascii),
        ),
        _ => return None,
    };
    let doc = json!({ "rules": rules });
    validate_rules(&doc).ok()?;
    Some((doc, tail))
}

/// Every needle of a `contains` document, for the end of the body.
fn tail_of(needle: &dyn Fn(usize, usize) -> String) -> String {
    let mut tail = String::from(" ");
    for i in 0..MAX_RULES {
        for j in 0..MAX_CONDITIONS - 1 {
            tail.push_str(&needle(i, j).to_uppercase());
            tail.push(' ');
        }
    }
    tail
}

/// The largest `k` for which the validator accepts `[a-z]{k}[0-9]` (the worst regexes of the
/// `regex` and `mixed` documents start there).
pub fn heaviest_repetition() -> usize {
    let accepted = |k: usize| {
        validate_rules(&json!({"rules": [{"name": "k", "actions": {"webhook_url": "https://hook.example/k"},
            "conditions": [{"field": "body", "operator": "regex", "value": format!("[a-z]{{{k}}}[0-9]")}]}]}))
        .is_ok()
    };
    let (mut lo, mut hi) = (1, 4096);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if accepted(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}
