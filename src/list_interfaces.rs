//! `engarde-client list-interfaces`: every interface, and whether and how
//! engarde would use it: for each link (one per address family), its
//! source address and destination (a host name with what it resolved to).

use crate::interfaces::{LinkPolicy, Survey};
use std::fmt::Write;

/// Renders the survey as a table, one interface per line.
pub fn render(survey: &Survey, policy: &LinkPolicy) -> String {
    let mut rows = vec![[
        "INTERFACE".to_string(),
        "LABEL".to_string(),
        "STATE".to_string(),
        "ADDRESSES".to_string(),
        "ENGARDE".to_string(),
    ]];
    for (interface, verdict) in survey {
        let addresses = if interface.addresses.is_empty() {
            "-".to_string()
        } else {
            interface
                .addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let usage = match verdict {
            Ok(links) => format!(
                "used: {}",
                links
                    .iter()
                    .map(|spec| format!(
                        "{} {} -> {}",
                        spec.family(),
                        spec.source,
                        spec.destination_display()
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Err(reason) => format!("not used: {reason}"),
        };
        rows.push([
            interface.name.clone(),
            policy
                .labels
                .get(&interface.name)
                .cloned()
                .unwrap_or_else(|| "-".into()),
            if interface.up { "up" } else { "down" }.to_string(),
            addresses,
            usage,
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Destination;
    use crate::interfaces::{InterfaceInfo, survey};
    use std::collections::BTreeMap;

    #[test]
    fn shows_every_interface_and_why_it_is_unused() {
        let policy = LinkPolicy {
            excluded: ["eth1".to_string()].into(),
            destination: Some(Destination::new(
                "server.example:59501",
                vec![
                    "203.0.113.1:59501".parse().unwrap(),
                    "[2001:db8::1]:59501".parse().unwrap(),
                ],
            )),
            overrides: BTreeMap::new(),
            labels: [("eth0".to_string(), "Fiber".to_string())].into(),
            ..LinkPolicy::default()
        };
        let mut eth0 = InterfaceInfo::new("eth0");
        eth0.up = true;
        eth0.addresses = vec!["192.0.2.5".parse().unwrap()];
        let mut eth1 = eth0.clone();
        eth0.addresses.push("2001:db8:5::5".parse().unwrap());
        eth1.name = "eth1".into();
        let table = render(
            &survey(
                vec![eth0, eth1, InterfaceInfo::new("dummy0")],
                &policy,
                &BTreeMap::new(),
            ),
            &policy,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines[1].starts_with("eth0")
                && lines[1].contains("Fiber")
                && lines[1].ends_with(
                    "used: IPv4 192.0.2.5 -> server.example:59501 (203.0.113.1:59501); \
                     IPv6 2001:db8:5::5 -> server.example:59501 ([2001:db8::1]:59501)"
                ),
            "{table}"
        );
        assert!(
            lines[2].ends_with("not used: excluded in the configuration"),
            "{table}"
        );
        assert!(
            lines[3].starts_with("dummy0") && lines[3].ends_with("not used: no usable address"),
            "{table}"
        );
    }
}
