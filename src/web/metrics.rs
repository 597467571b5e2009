//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4),
//! written by hand: a few dozen lines instead of a metrics library, and the
//! numbers come straight from the counters the data path already keeps.
//!
//! Names follow the Prometheus conventions: an `engarde_` prefix, base
//! units in the name (`_bytes`, `_seconds`), `_total` on counters, and
//! labels for what varies (`interface`, `label`, `family`, `peer`, `reason`).
//! docs/metrics.md lists every metric.

use super::state::{Facts, Snapshot};
use crate::actors::interface_report::LinkStatus;
use crate::stats::{EndpointStats, PathStats, get};
use std::fmt::{Display, Write};
use std::time::UNIX_EPOCH;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One path's labels and counters.
type PathRow<'a> = (Vec<(&'static str, String)>, &'a PathStats);

/// Renders every metric of `snapshot`.
pub fn render(facts: &Facts, role: &str, snapshot: &Snapshot) -> String {
    let mut out = Exposition::default();
    out.family(
        "engarde_build_info",
        "gauge",
        "Always 1; the labels say which build runs.",
    );
    out.sample(
        "engarde_build_info",
        &[("version", crate::VERSION), ("role", role)],
        1,
    );
    let started = facts
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    out.family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
    );
    out.sample("process_start_time_seconds", &[], format!("{started:.3}"));
    match snapshot {
        Snapshot::Client {
            interfaces,
            wireguard,
        } => {
            let active = interfaces
                .iter()
                .filter(|i| i.status == LinkStatus::Active)
                .count();
            out.family(
                "engarde_links_active",
                "gauge",
                "Links (interfaces) carrying traffic now.",
            );
            out.sample("engarde_links_active", &[], active);
            let labels = |name: &str, label: &Option<String>| {
                vec![
                    ("interface", name.to_string()),
                    ("label", label.clone().unwrap_or_default()),
                ]
            };
            out.family(
                "engarde_link_up",
                "gauge",
                "1 when a link runs on the interface, 0 when it is idle or excluded.",
            );
            for i in interfaces {
                let up = u8::from(i.status == LinkStatus::Active);
                out.sample_owned("engarde_link_up", &labels(&i.name, &i.label), up);
            }
            out.family(
                "engarde_link_excluded",
                "gauge",
                "1 when the interface is excluded (by the configuration or at run time).",
            );
            for i in interfaces {
                let excluded = u8::from(i.status == LinkStatus::Excluded);
                out.sample_owned(
                    "engarde_link_excluded",
                    &labels(&i.name, &i.label),
                    excluded,
                );
            }
            out.family(
                "engarde_link_info",
                "gauge",
                "1 for each link (interface and address family) running now; the labels say its source, the address its socket is bound to and its destination.",
            );
            for i in interfaces {
                for link in i.links.iter().filter(|l| l.active) {
                    let mut info = labels(&i.name, &i.label);
                    info.push(("family", link.key.family.name().to_string()));
                    info.push((
                        "source",
                        link.source.map(|ip| ip.to_string()).unwrap_or_default(),
                    ));
                    info.push((
                        "local",
                        link.local.map(|a| a.to_string()).unwrap_or_default(),
                    ));
                    info.push((
                        "destination",
                        link.destination_text.clone().unwrap_or_default(),
                    ));
                    info.push((
                        "resolved",
                        link.destination.map(|a| a.to_string()).unwrap_or_default(),
                    ));
                    out.sample_owned("engarde_link_info", &info, 1);
                }
            }
            let rows: Vec<PathRow> = interfaces
                .iter()
                .flat_map(|i| {
                    i.links.iter().filter_map(|link| {
                        let mut row = labels(&i.name, &i.label);
                        row.push(("family", link.key.family.name().to_string()));
                        Some((row, link.stats.as_deref()?))
                    })
                })
                .collect();
            out.paths("engarde_link", "link", &rows);
            out.wireguard(wireguard, true);
        }
        Snapshot::Server { clients, wireguard } => {
            out.family(
                "engarde_peers_active",
                "gauge",
                "Client addresses heard from within clientTimeout.",
            );
            out.sample("engarde_peers_active", &[], clients.len());
            out.family(
                "engarde_clients_active",
                "gauge",
                "Clients (engarde-clients, WireGuard peers) with a live address.",
            );
            out.sample(
                "engarde_clients_active",
                &[],
                super::json::distinct_clients(clients),
            );
            let rows: Vec<PathRow> = clients
                .iter()
                .map(|c| {
                    let peer = crate::net::sockaddr::unmap_socket(c.peer);
                    (vec![("peer", peer.to_string())], &*c.stats)
                })
                .collect();
            out.paths("engarde_peer", "client address", &rows);
            out.wireguard(wireguard, false);
            out.refused(wireguard);
        }
    }
    out.text
}

/// A text exposition being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn sample_owned(&mut self, name: &str, labels: &[(&'static str, String)], value: impl Display) {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sample(name, &labels, value);
    }

    /// The counter families every path has, one sample per row each.
    fn paths(&mut self, prefix: &str, what: &str, rows: &[PathRow]) {
        type Read = fn(&PathStats) -> u64;
        let counters: [(&str, String, Read); 5] = [
            (
                "sent_packets_total",
                format!("Datagrams sent to the other engarde on this {what}."),
                |s| get(&s.tx_packets),
            ),
            (
                "sent_bytes_total",
                format!("Bytes of the datagrams sent on this {what}."),
                |s| get(&s.tx_bytes),
            ),
            (
                "received_packets_total",
                format!("Datagrams received from the other engarde on this {what}."),
                |s| get(&s.rx_packets),
            ),
            (
                "received_bytes_total",
                format!("Bytes of the datagrams received on this {what}."),
                |s| get(&s.rx_bytes),
            ),
            (
                "send_errors_total",
                format!(
                    "Datagrams the kernel refused to send on this {what} (unreachable, down, ...)."
                ),
                |s| get(&s.tx_errors),
            ),
        ];
        for (suffix, help, read) in counters {
            let name = format!("{prefix}_{suffix}");
            self.family(&name, "counter", &help);
            for (labels, stats) in rows {
                self.sample_owned(&name, labels, read(stats));
            }
        }
        let name = format!("{prefix}_dropped_packets_total");
        self.family(
            &name,
            "counter",
            &format!("Datagrams dropped on this {what}, by reason: send_full (its queue or socket buffer was full), wireguard_full (received, but the way to WireGuard was full), duplicate (received, but another path had already delivered that WireGuard message)."),
        );
        for (labels, stats) in rows {
            for (reason, value) in [
                ("send_full", &stats.tx_dropped),
                ("wireguard_full", &stats.rx_dropped),
                ("duplicate", &stats.rx_duplicates),
            ] {
                let mut labels = labels.clone();
                labels.push(("reason", reason.to_string()));
                self.sample_owned(&name, &labels, get(value));
            }
        }
        self.analytics(prefix, what, rows);
        let name = format!("{prefix}_last_receive_age_seconds");
        self.family(
            &name,
            "gauge",
            &format!(
                "Seconds since a datagram was last received on this {what} (absent if never)."
            ),
        );
        for (labels, stats) in rows {
            if let Some(age) = stats.last_rx.age() {
                self.sample_owned(&name, labels, format!("{:.3}", age.as_secs_f64()));
            }
        }
    }

    /// The path analytics: counters, and the delay behind the fastest path
    /// as a summary (median, p99, sum and count).
    fn analytics(&mut self, prefix: &str, what: &str, rows: &[PathRow]) {
        let snapshots: Vec<_> = rows
            .iter()
            .map(|(labels, stats)| (labels, stats.analytics.snapshot()))
            .collect();
        type Read = fn(&crate::analytics::AnalyticsSnapshot) -> u64;
        let counters: [(&str, String, Read); 4] = [
            (
                "first_copies_total",
                format!("WireGuard data messages whose first copy arrived on this {what}."),
                |s| s.wins,
            ),
            (
                "rescued_packets_total",
                format!(
                    "WireGuard data messages that arrived on this {what} alone while another was up."
                ),
                |s| s.rescued,
            ),
            (
                "lost_packets_total",
                format!("WireGuard data messages another path delivered and this {what} did not."),
                |s| s.lost,
            ),
            (
                "expected_packets_total",
                format!(
                    "WireGuard data messages judged while this {what} was up (the denominator of the lost ones)."
                ),
                |s| s.expected,
            ),
        ];
        for (suffix, help, read) in counters {
            let name = format!("{prefix}_{suffix}");
            self.family(&name, "counter", &help);
            for (labels, snapshot) in &snapshots {
                self.sample_owned(&name, labels, read(snapshot));
            }
        }
        let name = format!("{prefix}_delay_seconds");
        self.family(
            &name,
            "summary",
            &format!("How much later than the first copy this {what}'s copy of each WireGuard data message arrived (0 when it was first), since it started."),
        );
        for (labels, snapshot) in &snapshots {
            for (quantile, q) in [("0.5", 0.5), ("0.99", 0.99)] {
                if let Some(delay) = snapshot.delay_quantile(q) {
                    let mut labels = (*labels).clone();
                    labels.push(("quantile", quantile.to_string()));
                    self.sample_owned(&name, &labels, format!("{:.6}", delay.as_secs_f64()));
                }
            }
            self.sample_owned(
                &format!("{name}_sum"),
                labels,
                format!("{:.6}", snapshot.delay_sum_us as f64 / 1e6),
            );
            self.sample_owned(&format!("{name}_count"), labels, snapshot.delay_count());
        }
    }

    /// What a WireGuard-aware server dropped before WireGuard, by reason.
    fn refused(&mut self, stats: &EndpointStats) {
        let name = "engarde_refused_packets_total";
        self.family(
            name,
            "counter",
            "Datagrams from the network dropped before WireGuard, by reason: not_wireguard, not_allowed (outside allowedSources), unknown_session, too_many_clients, too_many_addresses, too_many_initiations (before WireGuard answered the client once).",
        );
        for refusal in crate::registry::Refusal::ALL {
            self.sample(
                name,
                &[("reason", refusal.label())],
                get(stats.refused(refusal)),
            );
        }
    }

    /// The WireGuard-facing socket's families.
    fn wireguard(&mut self, stats: &EndpointStats, client: bool) {
        let plain: [(&str, &str, &std::sync::atomic::AtomicU64); 5] = [
            (
                "engarde_wireguard_received_packets_total",
                "Datagrams received from the local WireGuard.",
                &stats.from_wireguard_packets,
            ),
            (
                "engarde_wireguard_received_bytes_total",
                "Bytes of the datagrams received from the local WireGuard.",
                &stats.from_wireguard_bytes,
            ),
            (
                "engarde_wireguard_sent_packets_total",
                "Datagrams delivered to the local WireGuard.",
                &stats.to_wireguard_packets,
            ),
            (
                "engarde_wireguard_sent_bytes_total",
                "Bytes of the datagrams delivered to the local WireGuard.",
                &stats.to_wireguard_bytes,
            ),
            (
                "engarde_wireguard_send_errors_total",
                "Datagrams for the local WireGuard the kernel refused with an error.",
                &stats.to_wireguard_errors,
            ),
        ];
        for (name, help, counter) in plain {
            self.family(name, "counter", help);
            self.sample(name, &[], get(counter));
        }
        let name = "engarde_wireguard_dropped_packets_total";
        self.family(
            name,
            "counter",
            "Datagrams dropped at the WireGuard side, by reason: no_path (from WireGuard, but no link or client address was up), full (for WireGuard, its socket buffer was full), duplicate (for WireGuard, a copy of a data message already delivered), unknown_peer (client: for WireGuard, before WireGuard sent anything), other_client (server: from WireGuard, data for a session that is not the socket's client's).",
        );
        self.sample(
            name,
            &[("reason", "duplicate")],
            get(&stats.duplicates_dropped),
        );
        self.sample(name, &[("reason", "no_path")], get(&stats.no_path_dropped));
        self.sample(
            name,
            &[("reason", "full")],
            get(&stats.to_wireguard_dropped),
        );
        if client {
            self.sample(
                name,
                &[("reason", "unknown_peer")],
                get(&stats.to_wireguard_no_peer),
            );
        } else {
            self.sample(
                name,
                &[("reason", "other_client")],
                get(&stats.foreign_dropped),
            );
        }
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        let mut out = Exposition::default();
        out.sample("m", &[("label", "say \"hi\"")], 1);
        assert_eq!(out.text, "m{label=\"say \\\"hi\\\"\"} 1\n");
    }
}
