//! The configuration fixtures in `tests/fixtures/{valid,invalid}/` and the
//! expectation each one states in its leading comment lines:
//!
//! ```yaml
//! # binary: client | server | both   (which parse function(s) to run)
//! # key: client.listenAdr            (invalid only; `-` for a whole-file error)
//! # expect-error: TEXT               (invalid only; one or more, each a substring)
//! ```
//!
//! Keeping the expectation inside the file means a fixture cannot be added
//! without saying what it is for; a fixture without one fails the test.

use std::path::{Path, PathBuf};

/// Which binary's section a fixture is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Client,
    Server,
}

/// What a fixture's header says.
#[derive(Debug)]
pub struct Fixture {
    pub path: PathBuf,
    pub text: String,
    /// The binaries whose parse function this file is for.
    pub binaries: Vec<Binary>,
    /// The key the error must name (`Some("")` for a whole-file error).
    pub key: Option<String>,
    /// Substrings the rendered error must contain.
    pub expect_error: Vec<String>,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every `*.yml` under `tests/fixtures/<kind>`, sorted; panics when there
/// are none, so a moved directory cannot turn the test into a no-op.
pub fn load_all(kind: &str) -> Vec<Fixture> {
    let dir = fixtures_dir().join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.yml fixtures in {}", dir.display());
    paths.into_iter().map(|path| load(&path)).collect()
}

/// Reads one fixture and its header; panics if the header is incomplete.
pub fn load(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut fixture = Fixture {
        path: path.to_path_buf(),
        text: text.clone(),
        binaries: Vec::new(),
        key: None,
        expect_error: Vec::new(),
    };
    for line in text.lines().map_while(|line| line.strip_prefix('#')) {
        let Some((name, value)) = line.trim().split_once(": ") else {
            continue;
        };
        let value = value.trim();
        match name {
            "binary" => {
                fixture.binaries = match value {
                    "client" => vec![Binary::Client],
                    "server" => vec![Binary::Server],
                    "both" => vec![Binary::Client, Binary::Server],
                    other => panic!("{}: unknown binary {other:?}", path.display()),
                }
            }
            "key" => fixture.key = Some(if value == "-" { "" } else { value }.to_string()),
            "expect-error" => fixture.expect_error.push(value.to_string()),
            _ => {}
        }
    }
    assert!(
        !fixture.binaries.is_empty(),
        "{}: no \"# binary: client|server|both\" header line",
        path.display()
    );
    fixture
}

impl Fixture {
    pub fn file_name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("UTF-8 file name")
    }
}
