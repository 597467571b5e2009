//! Reading the host's interfaces: names, state and addresses.
//!
//! Addresses and the running flag come from if-addrs (getifaddrs); the
//! names and indexes of all interfaces, also those without any address,
//! come from `if_nameindex`, so `list-interfaces` can show every interface
//! and the watcher notices an interface created again under the same name.

use super::InterfaceInfo;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Every interface of the host, sorted by name.
pub fn discover() -> io::Result<Vec<InterfaceInfo>> {
    let mut by_name: BTreeMap<String, InterfaceInfo> = BTreeMap::new();
    for (name, index) in interface_names() {
        by_name
            .entry(name.clone())
            .or_insert_with(|| InterfaceInfo::new(name))
            .index = index;
    }
    for entry in if_addrs::get_if_addrs()? {
        let info = by_name
            .entry(entry.name.clone())
            .or_insert_with(|| InterfaceInfo::new(entry.name.clone()));
        info.up |= entry.is_oper_up();
        if info.index == 0 {
            info.index = entry.index.unwrap_or(0);
        }
        info.addresses.push(entry.ip());
    }
    for info in by_name.values_mut() {
        if let Some(carrier) = carrier(&info.name) {
            info.up = carrier;
        }
        info.wireguard = is_wireguard(&info.name);
    }
    Ok(by_name.into_values().collect())
}

/// Names and indexes of all interfaces, including those without an address.
fn interface_names() -> Vec<(String, u32)> {
    let mut names = Vec::new();
    #[cfg(unix)]
    // SAFETY: if_nameindex returns an array terminated by a zero entry (or
    // null on failure) that stays valid until if_freenameindex.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return names;
        }
        let mut entry = list;
        while (*entry).if_index != 0 && !(*entry).if_name.is_null() {
            names.push((
                std::ffi::CStr::from_ptr((*entry).if_name)
                    .to_string_lossy()
                    .into_owned(),
                (*entry).if_index,
            ));
            entry = entry.add(1);
        }
        libc::if_freenameindex(list);
    }
    names
}

/// Whether `name` is administratively up with a carrier, from sysfs.
///
/// The kernel sets the carrier at once when a cable is plugged or pulled,
/// but updates the running flag (operstate, which getifaddrs reports)
/// through its linkwatch queue, which may wait up to a second. Reading the
/// carrier lets the watcher act on the next poll. `None` where sysfs does
/// not say (other systems): the running flag is used then.
fn carrier(name: &str) -> Option<bool> {
    match std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("carrier")) {
        Ok(text) => Some(text.trim() == "1"),
        // Reading fails with EINVAL while the interface is administratively down.
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Some(false),
        Err(_) => None,
    }
}

/// True for WireGuard interfaces: kernel ones (device type `wireguard`) and
/// userspace ones (wireguard-go, boringtun), which own a control socket in
/// `/var/run/wireguard`. Sending engarde's traffic into the tunnel it carries
/// would loop, so such interfaces are never links.
fn is_wireguard(name: &str) -> bool {
    let uevent = Path::new("/sys/class/net").join(name).join("uevent");
    if let Ok(text) = std::fs::read_to_string(uevent) {
        if text.lines().any(|line| line.trim() == "DEVTYPE=wireguard") {
            return true;
        }
    }
    Path::new("/var/run/wireguard")
        .join(format!("{name}.sock"))
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_loopback_interface_with_its_address() {
        let interfaces = discover().unwrap();
        let lo = interfaces
            .iter()
            .find(|i| i.name == "lo")
            .expect("every Linux host has lo");
        assert!(lo.addresses.iter().any(|a| a.is_loopback()));
        assert!(!lo.wireguard);
        assert_ne!(lo.index, 0, "every interface has an index");
    }
}
