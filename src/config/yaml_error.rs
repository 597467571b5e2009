//! Turning serde_yaml's errors into [`ConfigError`]s that name the key.
//!
//! serde_yaml reports `client.dstOverrides[0]: unknown field \`dstAdr\`, expected …
//! at line 4 column 7`. We split that into position, key path and message;
//! for an unknown or repeated key we name the key itself (and suggest the
//! closest known one), and serde's Rust vocabulary (`u64`, `struct RawClient`,
//! `unit value`) is put in the words of the file.

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
    let (key, message) = if let Some((field, expected)) = parse_unknown_field(message) {
        (join_key(path, field), unknown_key_message(field, &expected))
    } else if let Some(field) = parse_duplicate_field(message) {
        (
            join_key(path, field),
            "appears more than once; keep one".to_string(),
        )
    } else if path.is_empty() && !message.starts_with("invalid ") {
        (String::new(), format!("not valid YAML: {message}"))
    } else if path.is_empty() {
        // The document itself has the wrong shape (a list, a bare word).
        (
            String::new(),
            format!(
                "not an engarde configuration: expected \"client:\" and/or \"server:\" sections ({})",
                plain_words(message)
            ),
        )
    } else {
        (path.to_string(), plain_words(message))
    };
    ConfigError::Invalid {
        file: file.to_path_buf(),
        position,
        key,
        message,
    }
}

fn join_key(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
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

/// `duplicate field \`x\`` → `x`.
fn parse_duplicate_field(message: &str) -> Option<&str> {
    message.strip_prefix("duplicate field `")?.strip_suffix('`')
}

/// Rewrites serde's type error in the file's terms: every integer key of the
/// file is a non-negative whole number, every struct a mapping of keys.
fn plain_words(message: &str) -> String {
    const WHOLE_NUMBER: &str = "expected a whole number, 0 or more";
    // serde reports a negative number for an unsigned field as a type error.
    if let Some(rest) = message.strip_prefix("invalid type: integer `-") {
        if let Some((digits, _)) = rest.split_once('`') {
            return format!("-{digits} is negative: {WHOLE_NUMBER}");
        }
    }
    let mut message = message
        .replace(" as u128", "")
        .replace("unit value", "null");
    for rust in [", expected u64", ", expected u32", ", expected u16"] {
        message = message.replace(rust, &format!(", {WHOLE_NUMBER}"));
    }
    // The expectation ends the message: replace it whole.
    if let Some(at) = message.find(", expected struct ") {
        message.truncate(at);
        message.push_str(", expected a mapping of keys");
    } else if let Some(start) = message.strip_suffix(", expected a map") {
        message = format!("{start}, expected a mapping of keys");
    } else if let Some(start) = message.strip_suffix(", expected a sequence") {
        message = format!("{start}, expected a list");
    }
    message
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
    fn speaks_of_numbers_lists_and_mappings_not_rust_types() {
        let cases = [
            (
                "invalid type: integer `-5`, expected u64",
                "-5 is negative: expected a whole number, 0 or more",
            ),
            (
                "invalid type: string \"abc\", expected u64",
                "invalid type: string \"abc\", expected a whole number, 0 or more",
            ),
            (
                "invalid type: integer `99999999999999999999` as u128, expected u64",
                "invalid type: integer `99999999999999999999`, expected a whole number, 0 or more",
            ),
            (
                "invalid type: unit value, expected struct RawDstOverride",
                "invalid type: null, expected a mapping of keys",
            ),
            (
                "invalid type: integer `3`, expected a sequence",
                "invalid type: integer `3`, expected a list",
            ),
        ];
        for (serde, ours) in cases {
            assert_eq!(plain_words(serde), ours);
        }
    }

    #[test]
    fn names_a_repeated_key_and_an_unknown_one() {
        let file = Path::new("f.yml");
        let error = serde_yaml::from_str::<crate::config::raw::ClientDocument>(
            "client:\n  listenAddr: a\n  listenAddr: b\n",
        )
        .unwrap_err();
        let error = from_yaml_error(file, &error);
        assert_eq!(error.key(), "client.listenAddr");
        assert!(
            error
                .to_string()
                .ends_with("appears more than once; keep one"),
            "{error}"
        );

        let error =
            serde_yaml::from_str::<crate::config::raw::ServerDocument>("- a\n").unwrap_err();
        let error = from_yaml_error(file, &error).to_string();
        assert!(
            error.starts_with("f.yml:1:1: not an engarde configuration: expected \"client:\""),
            "{error}"
        );
        assert!(!error.contains("struct"), "{error}");
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
