//! The `regex` dialect of routing rules: compilation on `regex-lite` with the size and nesting
//! budgets, case folding of patterns, the literal prefilters `regex-lite` lacks, the
//! per-isolate memo of compiled regexes, and the messages for refused patterns.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use regex_lite::{Regex, RegexBuilder};

use super::budget::{Meter, REGEX_MIN_READ_BYTES, SCAN_COST};
use super::{MAX_REGEX_CONDITIONS, REGEX_NEST_LIMIT, REGEX_SIZE_LIMIT};
use crate::base::text::{fold_char, push_folded};

/// A compiled `regex` condition, with the literal text every match contains when the pattern
/// has some: `regex-lite` has no literal prefilter and reads ~25 MB/s, so a body that lacks the
/// text is rejected by a substring search instead, and a pattern that starts with a literal is
/// searched from the first occurrence of it.
#[derive(Debug)]
pub(super) struct RuleRegex {
    re: Regex,
    /// Text every match contains (the longest such run of the pattern).
    pub(super) required: Option<String>,
    /// Text every match starts with.
    prefix: Option<String>,
}

impl RuleRegex {
    /// Whether the regex matches `hay` (the field's window, case-folded when the condition is
    /// case-insensitive), charging the work to `meter`: a substring search for the literal
    /// every match contains, one for the prefix every match starts with, then the regex search
    /// from there. `None` when the budget ran out first.
    pub(super) fn matches(&self, hay: &str, meter: &mut Meter) -> Option<bool> {
        if let Some(required) = &self.required {
            if !meter.charge_bytes(hay.len(), SCAN_COST) {
                return None;
            }
            if !hay.contains(required.as_str()) {
                return Some(false);
            }
        }
        let start = match &self.prefix {
            Some(prefix) => {
                if !meter.charge_bytes(hay.len(), SCAN_COST) {
                    return None;
                }
                match hay.find(prefix.as_str()) {
                    Some(at) => at,
                    None => return Some(false),
                }
            }
            None => 0,
        };
        meter.regex_search(|steps| self.re.is_match_at_within(hay, start, steps))
    }
}

/// Compiles a condition regex with the size and nesting budgets. A case-insensitive pattern is
/// case-folded outside its escapes ([`fold_pattern`]) and compiled with `(?i)`: it is matched
/// against the case-folded field, and `(?i)` covers the ASCII letters (`[A-Z]`, `\x41`).
pub(super) fn compile(pattern: &str, case_sensitive: bool) -> Result<RuleRegex, regex_lite::Error> {
    let (source, flags) = if case_sensitive {
        (pattern.to_string(), "")
    } else {
        (fold_pattern(pattern), "(?i)")
    };
    let re = RegexBuilder::new(&format!("{flags}{source}"))
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()?;
    let literals = required_literals(&source);
    let fold = |s: String| {
        if case_sensitive {
            s
        } else {
            s.to_ascii_lowercase()
        }
    };
    Ok(RuleRegex {
        re,
        required: literals.longest.map(fold),
        prefix: literals.prefix.map(fold),
    })
}

/// Case-folds the characters of a pattern that stand for themselves, so that the pattern meets
/// a case-folded field: non-ASCII literals outside escapes are folded (`É` → `é`; `İ`, which
/// folds to two characters, becomes the group `(?:i̇)`), and in a class the folded character or
/// range is added next to the original (`[À-Ö]` → `[À-Öà-ö]`). ASCII is left to `(?i)`. The
/// character after a backslash is never touched (`\D`, `\S`, `\W`, `\B` keep their meaning),
/// nor are group names.
fn fold_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    // Just after `[` or `[^`, where `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push('\\');
            if let Some(n) = chars.next() {
                out.push(n);
                // The argument of `\x7F`, `\x{..}`, `\u`, `\U`, `\pL`, `\p{..}`: copied as is.
                let fixed = match n {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    'p' | 'P' => 1,
                    _ => 0,
                };
                if fixed > 0 && chars.peek() == Some(&'{') {
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == '}' {
                            break;
                        }
                    }
                } else {
                    out.extend(chars.by_ref().take(fixed));
                }
            }
            class_start = false;
            continue;
        }
        if in_class {
            let first = std::mem::take(&mut class_start);
            match c {
                ']' if !first => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.peek() == Some(&':') => {
                    // `[[:alpha:]]`: copied up to its `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for d in chars.by_ref() {
                        out.push(d);
                        if prev == ':' && d == ']' {
                            break;
                        }
                        prev = d;
                    }
                }
                c => {
                    let mut look = chars.clone();
                    let range_end = match (look.next(), look.next()) {
                        (Some('-'), Some(d)) if !matches!(d, ']' | '\\' | '[') => Some(d),
                        _ => None,
                    };
                    if let Some(d) = range_end {
                        chars = look;
                        out.extend([c, '-', d]);
                        if !(c.is_ascii() && d.is_ascii()) {
                            if let (Some(fc), Some(fd)) = (fold_char(c), fold_char(d)) {
                                if fc <= fd && (fc, fd) != (c, d) {
                                    out.extend([fc, '-', fd]);
                                }
                            }
                        }
                    } else {
                        out.push(c);
                        if let Some(f) = fold_char(c).filter(|&f| !c.is_ascii() && f != c) {
                            out.push(f);
                        }
                    }
                }
            }
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            '(' if chars.peek() == Some(&'?') => {
                out.push('(');
                let mut look = chars.clone();
                look.next();
                let named = match look.next() {
                    Some('<') => !matches!(look.next(), Some('=' | '!')),
                    Some('P') => look.next() == Some('<'),
                    _ => false,
                };
                if named {
                    // `(?<name>` / `(?P<name>`: copied up to its `>`.
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == '>' {
                            break;
                        }
                    }
                }
            }
            c if c.is_ascii() => out.push(c),
            c => match fold_char(c) {
                Some(f) => out.push(f),
                None => {
                    out.push_str("(?:");
                    push_folded(c, &mut out);
                    out.push(')');
                }
            },
        }
    }
    out
}

/// Literal text a pattern's matches must contain.
#[derive(Debug, Default, PartialEq, Eq)]
struct Literals {
    /// The longest run of literal characters of the top-level sequence.
    longest: Option<String>,
    /// The run the pattern starts with, if it starts with one.
    prefix: Option<String>,
}

/// The literal runs of a pattern's top-level sequence: characters that stand for themselves,
/// not quantified, not in a group, a class or an escape other than an escaped punctuation
/// (`\.`). Every match contains each run, so a field without one cannot match. Conservative:
/// nothing is claimed for a top-level alternation, inline flags (`(?i)`, `(?x)` change what a
/// character means) or a hex escape. The pattern is a valid one (it compiled).
fn required_literals(pattern: &str) -> Literals {
    let cs: Vec<char> = pattern.chars().collect();
    let mut runs: Vec<(bool, String)> = Vec::new();
    let mut run = String::new();
    let mut run_at_start = true;
    let mut i = 0;
    let end_run = |run: &mut String, runs: &mut Vec<(bool, String)>, at_start: bool| {
        if !run.is_empty() {
            runs.push((at_start, std::mem::take(run)));
        }
    };
    while i < cs.len() {
        // One atom: a literal character, or something that is not one.
        let (literal, next) = match cs[i] {
            '|' | ')' => return Literals::default(),
            '(' => {
                if is_inline_flags(&cs, i) {
                    return Literals::default();
                }
                match skip_group(&cs, i) {
                    Some(next) => (None, next),
                    None => return Literals::default(),
                }
            }
            '[' => match skip_class(&cs, i) {
                Some(next) => (None, next),
                None => return Literals::default(),
            },
            '\\' => match cs.get(i + 1) {
                Some('x' | 'u' | 'U' | 'p' | 'P') | None => return Literals::default(),
                // Classes, assertions (`\b`, `\<`, `\>`), control characters.
                Some(&n)
                    if n.is_ascii_alphanumeric() || n.is_whitespace() || matches!(n, '<' | '>') =>
                {
                    (None, i + 2)
                }
                Some(&n) => (Some(n), i + 2),
            },
            '.' | '^' | '$' => (None, i + 1),
            '?' | '*' | '+' | '{' => return Literals::default(),
            c => (Some(c), i + 1),
        };
        // Its quantifier, if any.
        let mut after = next;
        let quantified = matches!(cs.get(after), Some('?' | '*' | '+' | '{'));
        if quantified {
            if cs.get(after) == Some(&'{') {
                match cs[after..].iter().position(|&c| c == '}') {
                    Some(close) => after += close + 1,
                    None => return Literals::default(),
                }
            } else {
                after += 1;
            }
            if matches!(cs.get(after), Some('?' | '*' | '+' | '{')) {
                // A lazy `?` is fine; anything else stacked is not worth reading.
                if cs.get(after) == Some(&'?') {
                    after += 1;
                } else {
                    return Literals::default();
                }
            }
        }
        match literal {
            Some(c) if !quantified => run.push(c),
            _ => {
                let at_start = run_at_start;
                end_run(&mut run, &mut runs, at_start);
                run_at_start = false;
            }
        }
        i = after;
    }
    end_run(&mut run, &mut runs, run_at_start);
    Literals {
        prefix: runs.first().filter(|(s, _)| *s).map(|(_, r)| r.clone()),
        longest: runs
            .into_iter()
            .map(|(_, r)| r)
            .max_by_key(|r| r.chars().count()),
    }
}

/// `(?flags)` at `i`: inline flags for the rest of the group.
fn is_inline_flags(cs: &[char], i: usize) -> bool {
    if cs.get(i + 1) != Some(&'?') {
        return false;
    }
    let flags = cs[i + 2..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic() || **c == '-')
        .count();
    flags > 0 && cs.get(i + 2 + flags) == Some(&')')
}

/// The index after the group opened at `i`, classes and escapes inside taken into account.
fn skip_group(cs: &[char], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < cs.len() {
        match cs[j] {
            '\\' => j += 2,
            '[' => j = skip_class(cs, j)?,
            '(' => {
                depth += 1;
                j += 1;
            }
            ')' => {
                depth = depth.checked_sub(1)?;
                j += 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

/// The index after the class opened at `i` (`[^]x]`, `[[:alpha:]]` and escapes included).
fn skip_class(cs: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if cs.get(j) == Some(&'^') {
        j += 1;
    }
    if cs.get(j) == Some(&']') {
        j += 1;
    }
    while j < cs.len() {
        match cs[j] {
            '\\' => j += 2,
            '[' if cs.get(j + 1) == Some(&':') => {
                let close = cs[j + 2..].windows(2).position(|w| w == [':', ']'])?;
                j += 2 + close + 2;
            }
            '[' => return None,
            ']' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Compiled regexes kept between e-mails; cleared when full, which bounds its memory whatever
/// rule updates come and go. It holds every regex of a document ([`MAX_REGEX_CONDITIONS`]), so
/// evaluating an e-mail compiles nothing once the document has been seen.
pub(super) const REGEX_MEMO_CAPACITY: usize = 128;
const _: () = assert!(MAX_REGEX_CONDITIONS <= REGEX_MEMO_CAPACITY);

thread_local! {
    // A Worker isolate runs one thread; tests run many, each with its own memo.
    static REGEX_MEMO: RefCell<HashMap<(String, bool), Rc<RuleRegex>>> =
        RefCell::new(HashMap::new());
}

/// [`compile`] through the memo. Failures are not kept. Validation goes through it too, so
/// the regexes of a document just validated are compiled once.
pub(super) fn cached_regex(
    pattern: &str,
    case_sensitive: bool,
) -> Result<Rc<RuleRegex>, regex_lite::Error> {
    let key = (pattern.to_string(), case_sensitive);
    if let Some(re) = REGEX_MEMO.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(re);
    }
    let re = Rc::new(compile(pattern, case_sensitive)?);
    REGEX_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= REGEX_MEMO_CAPACITY {
            m.clear();
        }
        m.insert(key, Rc::clone(&re));
    });
    Ok(re)
}

/// Why a rule regex was refused, after `.value: `. `regex-lite` reports one-line messages;
/// those about constructs it does not have say so, and name the dialect.
pub(super) fn regex_problem(e: &regex_lite::Error) -> String {
    let msg = e.to_string();
    match msg.as_str() {
        "compiled regex exceeded size limit" => format!(
            "regex too costly (it compiles to more than {REGEX_SIZE_LIMIT} bytes): on a hostile \
             e-mail it could not read even the first {} KiB of a field within the evaluation \
             budget of the rules; use smaller counted repetitions ({{n}} with a smaller n)",
            REGEX_MIN_READ_BYTES >> 10
        ),
        "pattern has too much nesting" => {
            format!("regex too complex (groups nested more than {REGEX_NEST_LIMIT} deep)")
        }
        "found open group without closing ')'" | "expected closing ')', but got end of pattern" => {
            "invalid regex: unclosed group (a '(' has no matching ')')".into()
        }
        "found closing ')' without matching '('" => {
            "invalid regex: unopened group (a ')' has no matching '(')".into()
        }
        m if m.contains("not supported") => format!(
            "unsupported regex construct: {m}; rule regexes are ASCII-only: \\d \\w \\s \\b and (?i) \
             cover ASCII characters, and there are no \\p{{..}} classes, look-around, \
             backreferences or nested classes"
        ),
        m => format!("invalid regex: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::text::fold_case;

    /// [`RuleRegex::matches`] on a field as written, with an unlimited budget.
    fn is_match(rule: &RuleRegex, case_sensitive: bool, hay: &str) -> bool {
        let hay = if case_sensitive {
            hay.to_string()
        } else {
            fold_case(hay)
        };
        rule.matches(&hay, &mut Meter::new(u64::MAX))
            .expect("unlimited budget")
    }

    #[test]
    fn literal_runs_of_patterns() {
        let lit = |p: &str, prefix: Option<&str>, longest: Option<&str>| {
            assert_eq!(
                required_literals(p),
                Literals {
                    prefix: prefix.map(str::to_string),
                    longest: longest.map(str::to_string),
                },
                "{p}"
            );
        };
        lit(r"commande\s+n°\s*\d{6}", Some("commande"), Some("commande"));
        lit("^devis", None, Some("devis"));
        lit("REF-[0-9]+$", Some("REF-"), Some("REF-"));
        lit("ab?cd", Some("a"), Some("cd"));
        lit(r"x\.y\-z", Some("x.y-z"), Some("x.y-z"));
        lit(r"\bfacture\b", None, Some("facture"));
        lit("a{2}bc", None, Some("bc"));
        lit("a{2,}?bc", None, Some("bc"));
        lit("(foo)+bar", None, Some("bar"));
        lit("[)(]x", None, Some("x"));
        lit("[]x]y", None, Some("y"));
        lit("[[:alpha:]]yz", None, Some("yz"));
        lit(r"a\<bc\>", Some("a"), Some("bc"));
        lit("é+ab", None, Some("ab"));
        lit(r"a\sb\tc", Some("a"), Some("c"));
        // Nothing claimed.
        lit("a|b", None, None);
        lit("(?i)abc", None, None);
        lit("(?x)a b", None, None);
        lit(r"\x41bc", None, None);
        lit(r"\u{41}bc", None, None);
        lit(r"\d+", None, None);
        lit("a*", None, None);
        lit("", None, None);
    }

    #[test]
    fn patterns_are_folded_outside_escapes() {
        let cases = [
            ("MÉDIA", "MéDIA"),
            ("ΟΔΟΣ", "οδοσ"),
            (r"\D\S\W\BÉ", r"\D\S\W\Bé"),
            ("[À-Ö]", "[À-Öà-ö]"),
            ("[A-É]x", "[A-Éa-é]x"),
            ("[A-Z]", "[A-Z]"),
            ("[Z-a]", "[Z-a]"),
            ("[É]", "[Éé]"),
            ("[^Éx]", "[^Ééx]"),
            ("[]É]", "[]Éé]"),
            ("[[:alpha:]É]", "[[:alpha:]Éé]"),
            (r"[\x{C0}-\x{D6}]", r"[\x{C0}-\x{D6}]"),
            (r"[\x{C0}-É]", r"[\x{C0}-Éé]"),
            (r"[\xC0-É]x", r"[\xC0-Éé]x"),
            (r"\u00C9É", r"\u00C9é"),
            ("İ+", "(?:i\u{307})+"),
            ("[İ]", "[İ]"),
            ("(?P<Émile>É)(?<Zoé>É)(?:É)", "(?P<Émile>é)(?<Zoé>é)(?:é)"),
        ];
        for (pattern, folded) in cases {
            assert_eq!(fold_pattern(pattern), folded, "{pattern}");
            assert!(compile(pattern, false).is_ok(), "{pattern}");
        }
    }

    #[test]
    fn literal_prefilter_never_changes_the_answer() {
        let patterns = [
            r"commande\s+n°\s*\d+",
            "^devis",
            "REF-[0-9]+$",
            "ab?cd",
            r"\bfac\b",
            "a{2}bc",
            "(ab)+c",
            "[À-Ö]+x",
            "ÉTÉ",
            r"x\.y",
            "ca$",
            "^a.c",
            "(?:x|y)z",
            "zz",
            "b",
        ];
        let alphabet = [
            "a", "b", "c", "d", "x", "y", "z", "É", "é", "t", "T", "fac", "REF-", "1", "42", ".",
            " ", "\u{a0}", "commande", " n° ", "devis", "DEVIS", "ab", "À", "ö",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for p in patterns {
            for case_sensitive in [true, false] {
                let rule = compile(p, case_sensitive).expect("compiles");
                let plain = if case_sensitive {
                    Regex::new(p)
                } else {
                    Regex::new(&format!("(?i){}", fold_pattern(p)))
                }
                .expect("compiles");
                for _ in 0..2_000 {
                    let mut next = || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    };
                    let len = next() % 12;
                    let hay: String = (0..len)
                        .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                        .collect();
                    let prepared = if case_sensitive {
                        hay.clone()
                    } else {
                        fold_case(&hay)
                    };
                    assert_eq!(
                        is_match(&rule, case_sensitive, &hay),
                        plain.is_match(&prepared),
                        "{p} {case_sensitive} {hay:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn memo_returns_the_same_regex_and_survives_being_full() {
        for i in 0..(REGEX_MEMO_CAPACITY * 2) {
            assert!(cached_regex(&format!("a{i}"), true).is_ok());
        }
        assert!(cached_regex("(", false).is_err());
        let re = cached_regex("x+y", false).expect("compiles");
        assert!(is_match(&re, false, "XXY"));
        assert!(REGEX_MEMO.with(|m| m.borrow().len()) <= REGEX_MEMO_CAPACITY);
    }
}
