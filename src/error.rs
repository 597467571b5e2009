//! Error types shared by the library and the binaries.
//!
//! Every error a user can cause (a bad config file, an address already in
//! use) renders as one line that names what went wrong and where, so the
//! binaries can print it and exit non-zero without a backtrace.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A configuration file that cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read at all (missing, unreadable).
    Read {
        /// The file we tried to read.
        file: PathBuf,
        /// Why reading failed.
        source: io::Error,
    },
    /// The file is not YAML, or a value in it is unusable.
    Invalid {
        /// The file holding the bad value.
        file: PathBuf,
        /// Line and column (1-based) when the YAML parser knows them.
        position: Option<(usize, usize)>,
        /// Dotted path of the offending key, e.g. `client.dstOverrides[0].dstAddr`;
        /// empty when the problem is the file as a whole (broken YAML).
        key: String,
        /// What is wrong, in words.
        message: String,
    },
}

impl ConfigError {
    /// An error about the value of `key`, found after parsing.
    pub fn invalid(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            file: file.to_path_buf(),
            position: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key path this error is about (empty for whole-file problems).
    pub fn key(&self) -> &str {
        match self {
            Self::Read { .. } => "",
            Self::Invalid { key, .. } => key,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { file, source } => {
                write!(
                    f,
                    "{}: cannot read the configuration file: {source}",
                    file.display()
                )
            }
            Self::Invalid {
                file,
                position,
                key,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if let Some((line, column)) = position {
                    write!(f, ":{line}:{column}")?;
                }
                if !key.is_empty() {
                    write!(f, ": {key}")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Invalid { .. } => None,
        }
    }
}

/// A daemon that could not start (or keep running) after its configuration
/// was accepted.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A socket the daemon must own could not be opened.
    #[error("cannot open {what} on {addr}: {source}")]
    Socket {
        /// Which socket, in words ("the WireGuard-facing socket").
        what: &'static str,
        /// The address it was to use.
        addr: std::net::SocketAddr,
        /// The operating system's answer.
        source: io::Error,
    },
    /// SIGINT/SIGTERM handlers could not be installed.
    #[error("cannot install signal handlers: {source}")]
    Signals {
        /// The operating system's answer.
        source: io::Error,
    },
}
