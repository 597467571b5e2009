//! Parsing the address strings of the configuration file.
//!
//! The Go engarde resolved every address with `net.ResolveUDPAddr("udp4", …)`,
//! so existing files may hold `IP:PORT`, `HOST:PORT` or `:PORT` (all local
//! addresses). We accept the same forms, plus bracketed IPv6 literals, and say
//! precisely what is wrong otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// What an address is used for; it decides whether a missing host is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRole {
    /// A local address to bind: `:PORT` means every local address.
    Listen,
    /// A remote address to send to: host and a non-zero port are required.
    Destination,
}

/// Parses `text` into a socket address, resolving a host name if needed.
///
/// A host name's first IPv4 address is preferred, as the Go version did
/// (see [`parse_addresses`] for every address). The error is a sentence
/// fragment that follows the key name.
pub fn parse_address(text: &str, role: AddressRole) -> Result<SocketAddr, String> {
    parse_addresses(text, role).map(|addrs| preferred(&addrs))
}

/// The address the Go engarde would have used: the first IPv4 one, else the first.
///
/// `addrs` must not be empty ([`parse_addresses`] never returns an empty list).
pub fn preferred(addrs: &[SocketAddr]) -> SocketAddr {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .expect("at least one address")
}

/// Parses `text` into every address it stands for: one for an IP literal
/// (a v4-mapped IPv6 literal counts as IPv4), every answer of the
/// resolver, in its order and without repeats, for a host name.
pub fn parse_addresses(text: &str, role: AddressRole) -> Result<Vec<SocketAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty: expected HOST:PORT, e.g. \"203.0.113.7:59501\"".into());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        return check_port(addr, role, text).map(|addr| vec![addr]);
    }
    // "[2001:db8::1]" has colons but no port: say so, not "port \"1]\" is not a number".
    if text.starts_with('[') && text.ends_with(']') {
        return Err(format!(
            "\"{text}\" has no port: expected [IPv6]:PORT, e.g. \"{text}:59501\""
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "\"{text}\" has no port: expected HOST:PORT, e.g. \"{text}:59501\""
        ));
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(format!(
            "\"{text}\" looks like an IPv6 address without brackets: write it as \"[ADDRESS]:PORT\", e.g. \"[2001:db8::1]:59501\""
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("\"{text}\": port \"{port}\" is not a number from 1 to 65535"))?;
    if host.is_empty() {
        return match role {
            AddressRole::Listen => Ok(vec![SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port,
            )]),
            AddressRole::Destination => Err(format!("\"{text}\" has no host: expected HOST:PORT")),
        };
    }
    if host.starts_with('[') {
        return Err(format!("\"{text}\" is not a valid [IPv6]:PORT address"));
    }
    if host.parse::<IpAddr>().is_err() && !is_plausible_host_name(host) {
        return Err(format!(
            "\"{text}\": \"{host}\" is neither an IP address nor a host name"
        ));
    }
    let resolved = distinct(
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve host \"{host}\": {e}"))?,
    );
    if resolved.is_empty() {
        return Err(format!("host \"{host}\" has no address"));
    }
    resolved
        .into_iter()
        .map(|addr| check_port(addr, role, text))
        .collect()
}

/// True when `text` names a host (to resolve) rather than an IP literal.
pub fn is_host_name(text: &str) -> bool {
    let text = text.trim();
    text.parse::<SocketAddr>().is_err()
        && text
            .rsplit_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.starts_with('['))
}

/// Resolver answers without repeats (glibc lists an address once per socket
/// type), v4-mapped addresses as IPv4, in the resolver's order.
pub fn distinct(answers: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    for addr in answers {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        if !seen.contains(&addr) {
            seen.push(addr);
        }
    }
    seen
}

fn check_port(addr: SocketAddr, role: AddressRole, text: &str) -> Result<SocketAddr, String> {
    if role == AddressRole::Destination && addr.port() == 0 {
        return Err(format!(
            "\"{text}\": port 0 cannot be sent to; give the peer's real port"
        ));
    }
    Ok(addr)
}

/// RFC 1123 host names: letters, digits, hyphens and dots.
fn is_plausible_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_the_go_version_accepted() {
        assert_eq!(
            parse_address("1.2.3.4:59501", AddressRole::Destination).unwrap(),
            "1.2.3.4:59501".parse().unwrap()
        );
        assert_eq!(
            parse_address(":59501", AddressRole::Listen).unwrap(),
            "0.0.0.0:59501".parse().unwrap()
        );
        assert_eq!(
            parse_address("[2001:db8::1]:5", AddressRole::Destination).unwrap(),
            "[2001:db8::1]:5".parse().unwrap()
        );
        assert!(
            parse_address("localhost:9", AddressRole::Destination)
                .unwrap()
                .ip()
                .is_loopback()
        );
    }

    #[test]
    fn a_host_name_stands_for_every_address_and_a_literal_for_one() {
        let all = parse_addresses("localhost:9", AddressRole::Destination).unwrap();
        assert!(!all.is_empty() && all.iter().all(|a| a.ip().is_loopback()));
        let unique: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "no repeats: {all:?}");
        assert_eq!(
            parse_addresses("[::ffff:192.0.2.1]:5", AddressRole::Destination).unwrap(),
            vec!["192.0.2.1:5".parse().unwrap()],
            "a v4-mapped literal is IPv4"
        );
        assert!(is_host_name("vpn.example.org:59501"));
        assert!(!is_host_name("192.0.2.1:59501"));
        assert!(!is_host_name("[2001:db8::1]:59501"));
        assert!(!is_host_name(":59501"));
    }

    #[test]
    fn explains_what_is_wrong() {
        let cases = [
            ("", "is empty"),
            ("1.2.3.4", "has no port"),
            ("[2001:db8::1]", "has no port: expected [IPv6]:PORT"),
            ("1.2.3.4:99999", "is not a number from 1 to 65535"),
            ("1.2.3.4:0", "port 0"),
            (":59501", "has no host"),
            ("2001:db8::1:5", "without brackets"),
            ("not a host:5", "neither an IP address nor a host name"),
        ];
        for (text, expected) in cases {
            let err = parse_address(text, AddressRole::Destination).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
