//! Exclusions changed at run time from the management interface.
//!
//! Modelled on the Go engarde: a set of "swapped" interface names on top of
//! the configured `excludedInterfaces`. An interface is excluded when it is
//! in exactly one of the two sets, so swapping a configured exclusion
//! includes that interface, and swapping any other name excludes it.
//! Nothing here is written back to the configuration: a restart forgets the
//! swaps, as in the Go version.

use super::Unusable;
use std::collections::BTreeSet;

/// The configured exclusions and the swaps made since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// `excludedInterfaces` from the configuration.
    configured: BTreeSet<String>,
    /// Names whose exclusion was swapped at run time.
    swapped: BTreeSet<String>,
}

impl Exclusions {
    /// The configured exclusions, nothing swapped.
    pub fn new(configured: BTreeSet<String>) -> Self {
        Self {
            configured,
            swapped: BTreeSet::new(),
        }
    }

    /// True when `name` must not carry a link.
    pub fn is_excluded(&self, name: &str) -> bool {
        self.configured.contains(name) != self.swapped.contains(name)
    }

    /// Why `name` is excluded, if it is.
    pub fn verdict(&self, name: &str) -> Option<Unusable> {
        match (self.configured.contains(name), self.swapped.contains(name)) {
            (true, false) => Some(Unusable::Excluded),
            (false, true) => Some(Unusable::ExcludedAtRunTime),
            _ => None,
        }
    }

    /// True when the state of `name` differs from the configuration.
    pub fn is_swapped(&self, name: &str) -> bool {
        self.swapped.contains(name)
    }

    /// Interfaces excluded by the configuration and not included at run time.
    pub fn by_configuration(&self) -> BTreeSet<String> {
        self.configured.difference(&self.swapped).cloned().collect()
    }

    /// Interfaces excluded at run time against the configuration.
    pub fn at_run_time(&self) -> BTreeSet<String> {
        self.swapped.difference(&self.configured).cloned().collect()
    }

    /// Every name the exclusions mention (configured or swapped).
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.configured.union(&self.swapped)
    }

    /// Excludes `name`; returns whether that changed anything.
    pub fn exclude(&mut self, name: &str) -> bool {
        !self.is_excluded(name) && {
            self.swap(name);
            true
        }
    }

    /// Includes `name`; returns whether that changed anything.
    pub fn include(&mut self, name: &str) -> bool {
        self.is_excluded(name) && {
            self.swap(name);
            true
        }
    }

    /// Flips the exclusion of `name`; returns whether it is now excluded.
    pub fn swap(&mut self, name: &str) -> bool {
        if !self.swapped.remove(name) {
            self.swapped.insert(name.to_string());
        }
        self.is_excluded(name)
    }

    /// Takes a reloaded `excludedInterfaces`. A run-time change survives
    /// for the names whose configured state stays the same; for the others
    /// the new configuration decides. Returns the names whose run-time
    /// change was forgotten.
    pub fn reconfigure(&mut self, configured: BTreeSet<String>) -> Vec<String> {
        let forgotten: Vec<String> = self
            .swapped
            .iter()
            .filter(|name| self.configured.contains(*name) != configured.contains(*name))
            .cloned()
            .collect();
        for name in &forgotten {
            self.swapped.remove(name);
        }
        self.configured = configured;
        forgotten
    }

    /// Forgets every swap; returns the names whose state changed.
    pub fn reset(&mut self) -> Vec<String> {
        std::mem::take(&mut self.swapped).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exclusions() -> Exclusions {
        Exclusions::new(["docker0".to_string()].into())
    }

    #[test]
    fn a_swap_flips_the_configured_state() {
        let mut ex = exclusions();
        assert!(ex.is_excluded("docker0"));
        assert!(!ex.is_excluded("eth0"));
        assert!(
            !ex.swap("docker0"),
            "a configured exclusion swapped is included"
        );
        assert!(ex.swap("eth0"), "any other name swapped is excluded");
        assert_eq!(ex.verdict("eth0"), Some(Unusable::ExcludedAtRunTime));
        assert_eq!(ex.verdict("docker0"), None);
        assert!(ex.by_configuration().is_empty());
        assert_eq!(ex.at_run_time(), ["eth0".to_string()].into());
        assert!(ex.swap("docker0"));
        assert_eq!(ex.verdict("docker0"), Some(Unusable::Excluded));
    }

    #[test]
    fn include_and_exclude_are_idempotent() {
        let mut ex = exclusions();
        assert!(!ex.exclude("docker0"), "already excluded");
        assert!(ex.exclude("eth0"));
        assert!(!ex.exclude("eth0"));
        assert!(ex.include("eth0"));
        assert!(!ex.include("eth0"));
        assert!(!ex.is_swapped("eth0"), "back to the configured state");
        assert!(ex.include("docker0"));
        assert!(ex.is_swapped("docker0"));
    }

    #[test]
    fn a_reload_decides_again_only_for_the_names_it_changes() {
        let mut ex = exclusions();
        ex.exclude("eth1"); // run-time change, untouched by the reload
        ex.include("docker0"); // run-time change of a name the reload changes
        let forgotten = ex.reconfigure(["wwan0".to_string()].into());
        assert_eq!(forgotten, ["docker0".to_string()]);
        assert!(!ex.is_excluded("docker0"), "no longer configured");
        assert!(ex.is_excluded("wwan0"), "newly configured");
        assert!(ex.is_excluded("eth1"), "the run-time exclusion stays");
        assert_eq!(ex.verdict("eth1"), Some(Unusable::ExcludedAtRunTime));
    }

    #[test]
    fn reset_restores_the_configuration() {
        let mut ex = exclusions();
        ex.include("docker0");
        ex.exclude("eth1");
        assert_eq!(ex.reset(), ["docker0".to_string(), "eth1".to_string()]);
        assert_eq!(ex, exclusions());
        assert!(ex.reset().is_empty());
    }
}
