//! Turning serde_yaml's errors into [`ConfigError`]s that name the key.
//!
//! serde_yaml reports `client.dstOverrides[0]: unknown field \`dstAdr\`, expected …
//! at line 4 column 7`. We split that into position, key path and message, and
//! for an unknown key we name the key itself and suggest the closest known one.

use crate::error::ConfigError;
use std::path::Path;

/// Converts a parse error of `file` into a [`ConfigError`].
pub fn from_yaml_error(file: &Path, error: &serde_yaml::Error) -> ConfigError {
    let position = error.location().map(|l| (l.line(), l.column()));
    let mut text = error.to_string();
    if let Some(at) = text.rfind(" at line ") {
        text.truncate(at);
    }
    let (path, message) = split_path(&text);
    let (key, message) = match parse_unknown_field(message) {
        Some((field, expected)) => {
            let key = if path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            (key, unknown_key_message(field, &expected))
        }
        None if path.is_empty() && !message.starts_with("invalid type") => {
            (String::new(), format!("not valid YAML: {message}"))
        }
        None => (path.to_string(), message.to_string()),
    };
    ConfigError::Invalid {
        file: file.to_path_buf(),
        position,
        key,
        message,
    }
}

/// `client.listenAddr: invalid type …` → (`client.listenAddr`, `invalid type …`).
fn split_path(text: &str) -> (&str, &str) {
    match text.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains(' ') => (path, rest),
        _ => ("", text),
    }
}

/// `unknown field \`x\`, expected one of \`a\`, \`b\`` → (`x`, [`a`, `b`]).
fn parse_unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).collect();
    Some((field, expected))
}

fn unknown_key_message(field: &str, expected: &[&str]) -> String {
    let mut message = String::from("unknown key");
    if let Some(best) = closest(field, expected) {
        message.push_str(&format!(" (did you mean \"{best}\"?)"));
    }
    if !expected.is_empty() {
        message.push_str("; known keys here: ");
        message.push_str(&expected.join(", "));
    }
    message
}

/// The expected key nearest to `field` by edit distance, if plausibly a typo.
fn closest<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    let field = field.to_ascii_lowercase();
    expected
        .iter()
        .map(|candidate| {
            (
                edit_distance(&field, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(
            closest("listenAdr", &["listenAddr", "dstAddr"]),
            Some("listenAddr")
        );
        assert_eq!(
            closest("excludedinterface", &["excludedInterfaces"]),
            Some("excludedInterfaces")
        );
        assert_eq!(closest("colour", &["listenAddr", "dstAddr"]), None);
    }

    #[test]
    fn splits_path_from_message() {
        assert_eq!(
            split_path("client.a[0]: invalid type"),
            ("client.a[0]", "invalid type")
        );
        assert_eq!(
            split_path("did not find expected key"),
            ("", "did not find expected key")
        );
    }
}
