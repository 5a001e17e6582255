//! How strong a token or password must be: the settings refuse, at load, a secret anyone could
//! guess (`misconfigured`, naming the variable, never the value). A guess at the admin token is
//! full control, so these rules are checked before the worker answers anything.

use std::collections::HashMap;

/// Fewest characters of a token or password.
pub const MIN_SECRET_CHARS: usize = 24;
/// Fewest different characters (a random 24-character hex string has about 12).
const MIN_DISTINCT_CHARS: usize = 8;
/// Least estimated entropy, in bits: the characters' frequencies (Shannon) times the length.
/// A random 24-character hex token estimates about 80; `openssl rand -base64 32` about 190.
const MIN_ESTIMATED_BITS: f64 = 64.0;
/// The command the messages suggest.
pub const MAKE_A_SECRET: &str = "openssl rand -base64 32";

/// Why `secret` is too weak to be a token or a password, if it is.
pub fn secret_weakness(secret: &str) -> Option<&'static str> {
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len();
    if n < MIN_SECRET_CHARS {
        return Some("shorter than 24 characters");
    }
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    if counts.len() == 1 {
        return Some("one character repeated");
    }
    if chars.iter().all(char::is_ascii_digit) {
        return Some("only digits");
    }
    // The shortest period: `abcabcabc…` repeats a pattern of 3.
    let period = (1..=n / 2).find(|&p| (p..n).all(|i| chars[i] == chars[i - p]));
    if period.is_some() {
        return Some("a short pattern repeated");
    }
    let neighbours = chars
        .windows(2)
        .filter(|w| (w[0] as i64 - w[1] as i64).abs() == 1)
        .count();
    if neighbours * 2 >= n - 1 {
        return Some("mostly a run of neighbouring characters (abcd…, 1234…)");
    }
    if counts.len() < MIN_DISTINCT_CHARS {
        return Some("too few different characters");
    }
    let bits: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum::<f64>()
        * n as f64;
    if bits < MIN_ESTIMATED_BITS {
        return Some("too predictable");
    }
    None
}

/// The message of a weak secret: the variable and why, never the value.
pub fn weak_secret_message(name: &str, why: &str) -> String {
    format!(
        "{name} is too weak ({why}): use at least {MIN_SECRET_CHARS} random characters, for instance the output of `{MAKE_A_SECRET}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_named_by_their_weakness() {
        #[rustfmt::skip]
        let table = [
            ("dev-admin-token", Some("shorter than 24 characters")),
            ("test-admin-token", Some("shorter than 24 characters")),
            ("", Some("shorter than 24 characters")),
            ("ééééééééééééééééééééééé", Some("shorter than 24 characters")),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaa", Some("one character repeated")),
            ("123456789012345678901234567", Some("only digits")),
            ("000000000000000000000000000000", Some("one character repeated")),
            ("abcabcabcabcabcabcabcabcab", Some("a short pattern repeated")),
            ("passwordpasswordpassword", Some("a short pattern repeated")),
            ("Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3", Some("a short pattern repeated")),
            ("abcdefghijklmnopqrstuvwxyz", Some("mostly a run of neighbouring characters (abcd…, 1234…)")),
            ("zyxwvutsrqponmlkjihgfedcba", Some("mostly a run of neighbouring characters (abcd…, 1234…)")),
            ("xxzzxxzzxxzzxxzzxxzzxxzzq", Some("too few different characters")),
            ("acacacacacacacacacacacacae", Some("too few different characters")),
            ("aaaaaaaaaaaaaaaaaaaaaaaaabcdefgh", Some("too predictable")),
        ];
        for (secret, want) in table {
            assert_eq!(secret_weakness(secret), want, "{secret:?}");
        }
    }

    #[test]
    fn good_secrets_pass() {
        for secret in [
            // openssl rand -base64 32, -hex 12, -hex 32
            "q0Yp9G7xkz3r1m8QvD2s5bN6tW4uJhLcA+eFi/KoXyU=",
            "9f3b7c1e08a4d6f25b9e3c71",
            "4be1c0e9d2a87f3356c1b0e9f7a2d4c8b6e1f03a9d5c7e2b8f4a1d6c3e9b0f72",
            // A passphrase long enough.
            "correct horse battery staple",
            // The values of .dev.vars.example and of the integration tests.
            "dev-process-Vx8kQ2mLp7RtZ4wN",
            "dev-admin-Jh3sT9bXc6YfE1uKq",
            "test-process-Q7b2Xk9mPz4vLc8R",
            "test-admin-Wd5nG8hJt2Ks6Yp3",
        ] {
            assert_eq!(secret_weakness(secret), None, "{secret}");
        }
    }

    #[test]
    fn the_message_names_the_variable_and_the_way_out_never_the_value() {
        let m = weak_secret_message("ADMIN_TOKEN", "shorter than 24 characters");
        assert!(m.starts_with("ADMIN_TOKEN is too weak (shorter than 24 characters)"));
        assert!(m.contains(MAKE_A_SECRET));
    }
}
