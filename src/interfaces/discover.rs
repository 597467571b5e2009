//! Reading the host's interfaces: names, state and addresses.
//!
//! Addresses and the running flag come from if-addrs (getifaddrs); the
//! names and indexes of all interfaces, also those without any address,
//! come from `if_nameindex`, so `list-interfaces` can show every interface
//! and the watcher notices an interface created again under the same name.
//! On Linux, `/proc/net/if_inet6` says which IPv6 addresses are still in
//! duplicate address detection (left out until usable) and which are
//! temporary or deprecated (listed after the others).

use super::InterfaceInfo;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
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
    let ipv6_flags = ipv6_address_flags();
    for entry in if_addrs::get_if_addrs()? {
        let info = by_name
            .entry(entry.name.clone())
            .or_insert_with(|| InterfaceInfo::new(entry.name.clone()));
        info.up |= entry.is_oper_up();
        if info.index == 0 {
            info.index = entry.index.unwrap_or(0);
        }
        let flags = match entry.ip() {
            IpAddr::V6(v6) => ipv6_flags.get(&(entry.name.clone(), v6)).copied(),
            IpAddr::V4(_) => None,
        };
        if flags.is_some_and(|f| f & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0) {
            // Still being checked for duplicates (or found one): it cannot be
            // bound yet. The kernel announces the end of the check, which
            // reads the interfaces again.
            continue;
        }
        info.addresses.push(entry.ip());
    }
    for info in by_name.values_mut() {
        // Within each family the order is kept, except that IPv6 addresses
        // meant to last come first: not deprecated, not temporary (privacy
        // addresses rotate, so a link would be re-created when one expires).
        info.addresses.sort_by_key(|ip| match ip {
            IpAddr::V6(v6) => {
                let flags = ipv6_flags
                    .get(&(info.name.clone(), *v6))
                    .copied()
                    .unwrap_or(0);
                1 + u8::from(flags & IFA_F_DEPRECATED != 0) * 2
                    + u8::from(flags & IFA_F_TEMPORARY != 0)
            }
            IpAddr::V4(_) => 0,
        });
    }
    for info in by_name.values_mut() {
        if let Some(carrier) = carrier(&info.name) {
            info.up = carrier;
        }
        info.wireguard = is_wireguard(&info.name);
    }
    Ok(by_name.into_values().collect())
}

/// `IFA_F_*` flags of an IPv6 address (linux/if_addr.h), as
/// `/proc/net/if_inet6` shows them.
const IFA_F_TEMPORARY: u8 = 0x01;
const IFA_F_DADFAILED: u8 = 0x08;
const IFA_F_DEPRECATED: u8 = 0x20;
const IFA_F_TENTATIVE: u8 = 0x40;

/// The flags of every IPv6 address, by interface and address, from
/// `/proc/net/if_inet6` (readable by any user; empty elsewhere).
fn ipv6_address_flags() -> BTreeMap<(String, Ipv6Addr), u8> {
    // thread-self: the network namespace of this thread (tests move a thread).
    std::fs::read_to_string("/proc/thread-self/net/if_inet6")
        .or_else(|_| std::fs::read_to_string("/proc/net/if_inet6"))
        .map(|text| parse_if_inet6(&text))
        .unwrap_or_default()
}

/// Parses `/proc/net/if_inet6`: `ADDRESS IFINDEX PREFIXLEN SCOPE FLAGS NAME`,
/// the address as 32 hex digits, the numbers in hex.
fn parse_if_inet6(text: &str) -> BTreeMap<(String, Ipv6Addr), u8> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [address, _, _, _, flags, name] = fields[..] else {
                return None;
            };
            let address = u128::from_str_radix(address, 16).ok()?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            Some(((name.to_string(), Ipv6Addr::from(address)), flags as u8))
        })
        .collect()
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

/// Whether `name` has a carrier now, from sysfs (`None` where sysfs does
/// not say). Cheap enough to ask every few tens of milliseconds.
pub fn has_carrier(name: &str) -> Option<bool> {
    carrier(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ipv6_address_flags() {
        let text = "\
fd000000000000000000000000000002 03 40 00 80     wan0
fe80000000000000a8c1abfffe000001 03 40 20 80     wan0
20010db8000000000000000000000005 04 40 00 41     eth1
20010db8000000000000000000000006 04 40 00 21     eth1
";
        let flags = parse_if_inet6(text);
        assert_eq!(flags.len(), 4);
        assert_eq!(flags[&("wan0".into(), "fd00::2".parse().unwrap())], 0x80);
        let tentative = flags[&("eth1".into(), "2001:db8::5".parse().unwrap())];
        assert_ne!(tentative & IFA_F_TENTATIVE, 0);
        let deprecated = flags[&("eth1".into(), "2001:db8::6".parse().unwrap())];
        assert_ne!(deprecated & IFA_F_DEPRECATED, 0);
        assert_ne!(deprecated & IFA_F_TEMPORARY, 0);
    }

    /// In a private network namespace: an IPv6 address under duplicate
    /// address detection is left out, then listed once it is usable.
    #[test]
    fn an_address_in_duplicate_address_detection_is_not_listed_yet() {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(
            uid, 0,
            "this test needs root (it makes a veth pair in a private network namespace)"
        );
        std::thread::spawn(|| {
            // SAFETY: unshare(CLONE_NEWNET) moves this thread only.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
            let ip = |args: &str| {
                let status = std::process::Command::new("ip")
                    .args(args.split_whitespace())
                    .status()
                    .unwrap();
                assert!(status.success(), "ip {args}");
            };
            ip("link add dadA type veth peer name dadB");
            ip("link set dadB up");
            ip("link set dadA up");
            ip("addr add fd00:77::1/64 dev dadA");
            let listed = |address: &str| {
                discover()
                    .unwrap()
                    .iter()
                    .find(|i| i.name == "dadA")
                    .unwrap()
                    .addresses
                    .contains(&address.parse().unwrap())
            };
            assert!(!listed("fd00:77::1"), "tentative: not listed yet");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !listed("fd00:77::1") {
                assert!(std::time::Instant::now() < deadline, "usable within 5 s");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
        .join()
        .unwrap();
    }

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
