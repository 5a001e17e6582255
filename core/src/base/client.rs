//! Who is calling, as far as the network says: the client's address (`CF-Connecting-IP`, set
//! by Cloudflare and not forgeable there) and the key failed credentials are counted under.

use std::net::IpAddr;

/// Longest address kept (an IPv6 address is at most 39 characters, 45 with an IPv4 tail).
const MAX_ADDRESS_CHARS: usize = 64;

/// The address of `CF-Connecting-IP`, as the audit shows it: trimmed, at most 64 characters
/// of `[0-9A-Za-z:._-]` (anything else becomes `_`), `unknown` when there is none.
pub fn client_address(header: Option<&str>) -> String {
    let text: String = header
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_ADDRESS_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if text.is_empty() {
        "unknown".into()
    } else {
        text
    }
}

/// The key a client's failed credentials are counted under: an IPv4 address as it is, an IPv6
/// address by its /64 network (one subscriber gets a whole /64, so counting single addresses
/// would let it rotate through billions of them). Anything else is the address as given.
pub fn client_key(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_their_keys() {
        #[rustfmt::skip]
        let table = [
            (Some("203.0.113.7"), "203.0.113.7", "203.0.113.7"),
            (Some(" 198.51.100.4 "), "198.51.100.4", "198.51.100.4"),
            (Some("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            (Some("2001:DB8:1:2::ffff"), "2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
            (Some("::ffff:192.0.2.1"), "::ffff:192.0.2.1", "192.0.2.1"),
            (Some("::1"), "::1", "0:0:0:0::/64"),
            (None, "unknown", "unknown"),
            (Some("   "), "unknown", "unknown"),
            (Some("a b<c>"), "a_b_c_", "a_b_c_"),
        ];
        for (header, address, key) in table {
            assert_eq!(client_address(header), address, "{header:?}");
            assert_eq!(client_key(&client_address(header)), key, "{header:?}");
        }
        assert_eq!(client_address(Some(&"9".repeat(200))).len(), 64);
        // Two addresses of one /64 share a key; another /64 does not.
        assert_eq!(client_key("2001:db8::1"), client_key("2001:db8::ffff:1"));
        assert_ne!(client_key("2001:db8::1"), client_key("2001:db8:0:1::1"));
    }
}
