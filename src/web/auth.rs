//! HTTP basic authentication for every route, compared in constant time.
//!
//! Credentials apply when both `username` and `password` are set (the
//! configuration refuses one without the other). The comparison looks at
//! every byte whatever the first difference, so the response time does not
//! tell an attacker how much of a guess was right.

use super::base64;

/// The user name and password the interface asks for.
#[derive(Clone)]
pub struct Credentials {
    username: Vec<u8>,
    password: Vec<u8>,
}

/// The realm browsers show in their password prompt.
pub const REALM: &str = "engarde";

impl Credentials {
    /// Credentials when both parts are set, `None` for an open interface.
    pub fn new(username: &str, password: &str) -> Option<Self> {
        (!username.is_empty() && !password.is_empty()).then(|| Self {
            username: username.as_bytes().to_vec(),
            password: password.as_bytes().to_vec(),
        })
    }

    /// True when `authorization` (the header's value) carries these credentials.
    pub fn accept(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        // `&` rather than `&&`: both comparisons always run.
        constant_time_eq(&user, &self.username) & constant_time_eq(&password, &self.password)
    }
}

/// The user and password of a `Basic` authorization header.
fn parse_basic(header: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::decode(token.trim())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Compares without an early exit; only the lengths' equality can leak.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= u64::from(x ^ y);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::encode(format!("{user}:{password}").as_bytes())
        )
        .into_bytes()
    }

    #[test]
    fn accepts_only_the_right_pair() {
        let credentials = Credentials::new("admin", "s3cr:t").unwrap();
        assert!(credentials.accept(Some(&header("admin", "s3cr:t"))));
        assert!(
            credentials.accept(Some(b"basic YWRtaW46czNjcjp0")),
            "scheme in any case"
        );
        assert!(!credentials.accept(Some(&header("admin", "s3cr:x"))));
        assert!(!credentials.accept(Some(&header("admin", "s3cr:t "))));
        assert!(!credentials.accept(Some(&header("Admin", "s3cr:t"))));
        assert!(!credentials.accept(Some(&header("", ""))));
        assert!(!credentials.accept(Some(b"Bearer abc")));
        assert!(!credentials.accept(Some(b"Basic !!!")));
        assert!(!credentials.accept(Some(b"Basic YWRtaW4=")), "no colon");
        assert!(!credentials.accept(None));
    }

    #[test]
    fn both_parts_are_needed() {
        assert!(Credentials::new("admin", "").is_none());
        assert!(Credentials::new("", "pw").is_none());
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
