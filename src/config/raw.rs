//! The configuration file exactly as written: serde structs with the Go
//! engarde's camelCase keys.
//!
//! Every field is optional here (a key may be missing or `null`, as the Go
//! version allowed); unknown keys are rejected so that a typo is an error and
//! not a silently ignored setting. Turning these into checked values is the
//! job of the `Checker` in `config/mod.rs`.
//!
//! Where the Go version (yaml.v2) read `null` as an empty value, the types
//! here keep the `null` visible (`Option`) so the checker can do the same:
//! serde_yaml would otherwise read a `null` list item as the string "null".

use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// The whole file as seen by engarde-client: its own section strictly, the
/// server's section skipped (one file may hold both).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDocument {
    /// The `client:` section: `None` when absent, `Some(None)` when written
    /// with nothing under it (then its required keys are what is missing).
    #[serde(default, deserialize_with = "present")]
    pub client: Option<Option<RawClient>>,
    /// The `server:` section, read by engarde-server only.
    #[allow(dead_code)]
    pub server: Option<IgnoredAny>,
}

/// The whole file as seen by engarde-server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDocument {
    /// The `client:` section, read by engarde-client only.
    #[allow(dead_code)]
    pub client: Option<IgnoredAny>,
    /// The `server:` section, as [`ClientDocument::client`].
    #[serde(default, deserialize_with = "present")]
    pub server: Option<Option<RawServer>>,
}

/// Marks a key that is present, even with a `null` value: serde calls this
/// only for keys in the file, and `#[serde(default)]` gives `None` otherwise.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The `client:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClient {
    pub description: Option<String>,
    pub listen_addr: Option<String>,
    pub dst_addr: Option<String>,
    pub write_timeout: Option<u64>,
    pub excluded_interfaces: Option<Vec<Option<String>>>,
    pub interface_labels: Option<BTreeMap<String, Option<String>>>,
    pub dst_overrides: Option<Vec<RawDstOverride>>,
    pub web_manager: Option<RawWebManager>,
    pub dedup: Option<bool>,
    pub link_silence_timeout: Option<u64>,
    pub resolve_interval: Option<u64>,
}

/// One element of `client.dstOverrides`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDstOverride {
    pub if_name: Option<String>,
    pub dst_addr: Option<String>,
}

/// The `server:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServer {
    pub description: Option<String>,
    pub listen_addr: Option<String>,
    pub dst_addr: Option<String>,
    pub client_timeout: Option<u64>,
    pub write_timeout: Option<u64>,
    pub web_manager: Option<RawWebManager>,
    pub dedup: Option<bool>,
    pub wireguard_aware: Option<bool>,
    pub max_clients: Option<u64>,
    pub max_addresses_per_client: Option<u64>,
    pub allowed_sources: Option<Vec<Option<String>>>,
}

/// `webManager:` in either section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWebManager {
    pub listen_addr: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}
