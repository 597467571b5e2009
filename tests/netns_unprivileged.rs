//! engarde as an unprivileged user with only the capabilities the shipped
//! systemd units grant (read from contrib/systemd/*.service): both daemons
//! start through `setpriv` as the user `engarde-test` (created here if
//! missing, as CI runs as root on a fresh machine), every link comes up,
//! interface changes are still seen at once (netlink works unprivileged),
//! the WireGuard interface is still recognised, and a stream through real
//! WireGuard loses nothing while a link is cut.

mod common;

use common::lab::{assert_no_loss, options, start};
use engarde::lab::Scenario;
use engarde::lab::stream::{Bidirectional, StreamSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "engarde-test";

/// The uid of [`USER`], creating the user if needed.
fn ensure_user() -> u32 {
    let id = || Command::new("id").args(["-u", USER]).output().unwrap();
    let mut output = id();
    if !output.status.success() {
        let created = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .status()
            .expect("useradd (package passwd) to create the test user");
        assert!(created.success(), "useradd {USER} failed");
        output = id();
    }
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The capabilities a shipped unit grants, e.g. `["net_raw", "net_admin"]`.
fn unit_capabilities(unit: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/systemd")
        .join(unit);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("AmbientCapabilities="))
        .unwrap_or_else(|| panic!("no AmbientCapabilities= in {}", path.display()));
    let bounding = text
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap_or_else(|| panic!("no CapabilityBoundingSet= in {}", path.display()));
    assert_eq!(
        line, bounding,
        "{unit}: the bounding set is the ambient set"
    );
    line.split_whitespace()
        .map(|cap| cap.strip_prefix("CAP_").unwrap().to_lowercase())
        .collect()
}

/// `setpriv` switching to [`USER`] with exactly `caps`, as systemd would.
fn setpriv(caps: &[String]) -> Vec<String> {
    let list: String = caps.iter().map(|cap| format!(",+{cap}")).collect();
    vec![
        "setpriv".into(),
        format!("--reuid={USER}"),
        format!("--regid={USER}"),
        "--clear-groups".into(),
        format!("--inh-caps=-all{list}"),
        format!("--ambient-caps=-all{list}"),
        format!("--bounding-set=-all{list}"),
        "--no-new-privs".into(),
    ]
}

/// A copy of `binary` the test user can run whatever the checkout's permissions.
fn runnable_copy(binary: &str, dir: &Path) -> PathBuf {
    let copy = dir.join(Path::new(binary).file_name().unwrap());
    std::fs::copy(binary, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// The capability mask of `caps` as /proc/PID/status prints it.
fn mask(caps: &[String]) -> String {
    let bits = caps
        .iter()
        .map(|cap| match cap.as_str() {
            "net_bind_service" => 10,
            "net_admin" => 12,
            "net_raw" => 13,
            other => panic!("unexpected capability {other}"),
        })
        .fold(0u64, |mask, bit| mask | (1 << bit));
    format!("{bits:016x}")
}

/// Checks the user and capabilities a running daemon has.
fn check_process(name: &str, pid: u32, uid: u32, caps: &[String]) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .trim()
            .to_string()
    };
    let uids: Vec<u32> = field("Uid:")
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    assert!(uids.iter().all(|u| *u == uid), "{name} runs as {uids:?}");
    for key in ["CapEff:", "CapPrm:", "CapAmb:", "CapBnd:"] {
        assert_eq!(field(key), mask(caps), "{name} {key}\n{status}");
    }
    assert_eq!(field("NoNewPrivs:"), "1", "{name}");
    println!(
        "{name} (pid {pid}) runs as uid {uid} with only {caps:?} (CapEff {})",
        field("CapEff:")
    );
}

#[test]
fn both_daemons_run_unprivileged_with_the_units_capabilities() {
    let uid = ensure_user();
    let client_caps = unit_capabilities("engarde-client.service");
    let server_caps = unit_capabilities("engarde-server.service");
    let bin = std::env::temp_dir().join(format!("engarde-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut options = options(Scenario::Overrides);
    options.client_binary = runnable_copy(env!("CARGO_BIN_EXE_engarde-client"), &bin);
    options.server_binary = runnable_copy(env!("CARGO_BIN_EXE_engarde-server"), &bin);
    options.client_wrapper = setpriv(&client_caps);
    options.server_wrapper = setpriv(&server_caps);
    // Links come up and a ping crosses the tunnel, or start fails loudly.
    let mut lab = start(options);
    check_process(
        "engarde-client",
        lab.engarde_client.as_ref().unwrap().pid(),
        uid,
        &client_caps,
    );
    check_process(
        "engarde-server",
        lab.engarde_server.as_ref().unwrap().pid(),
        uid,
        &server_caps,
    );

    let streams = Bidirectional::start(
        &lab,
        StreamSpec {
            rate_pps: 500,
            duration: Duration::from_secs(6),
            payload_len: 200,
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let cut = Instant::now();
    lab.set_client_link(1, false).unwrap();
    let noticed = common::lab::time_until_logged(
        || lab.engarde_client.as_ref().unwrap().log(),
        "link wan1/IPv4 removed: down",
        cut,
        Duration::from_secs(2),
    );
    println!(
        "unprivileged, wan1 down was acted on in {:.0} ms",
        noticed.as_secs_f64() * 1e3
    );
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);

    let client_log = lab.engarde_client.as_ref().unwrap().log();
    for problem in [
        "cannot open a socket",
        "cannot listen for interface changes",
        "Permission denied",
    ] {
        assert!(!client_log.contains(problem), "{problem}:\n{client_log}");
    }
    let wireguard = &lab.wireguard_client.as_ref().unwrap().interface;
    assert!(
        !client_log.contains(&format!("link {wireguard}/")),
        "the WireGuard interface {wireguard} is no link:\n{client_log}"
    );
    drop(lab);
    let _ = std::fs::remove_dir_all(&bin);
}

/// The kernel's version as (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap(), parts.next().unwrap())
}

/// Without any capability: from Linux 5.7 SO_BINDTODEVICE needs none, and
/// larger socket buffers fall back silently, so everything works; before
/// 5.7 the client's links cannot bind to their interfaces and it says so.
#[test]
fn without_any_capability_the_links_need_linux_5_7() {
    ensure_user();
    let bin = std::env::temp_dir().join(format!("engarde-nocaps-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut options = options(Scenario::Overrides);
    options.client_binary = runnable_copy(env!("CARGO_BIN_EXE_engarde-client"), &bin);
    options.server_binary = runnable_copy(env!("CARGO_BIN_EXE_engarde-server"), &bin);
    options.client_wrapper = setpriv(&[]);
    options.server_wrapper = setpriv(&[]);
    let kernel = kernel_version();
    let result = engarde::lab::Lab::start(options);
    if kernel >= (5, 7) {
        let lab = result.unwrap_or_else(|e| panic!("Linux {kernel:?}: {e}"));
        println!(
            "Linux {}.{}: no capability needed; links up, ping through the tunnel",
            kernel.0, kernel.1
        );
        drop(lab);
    } else {
        let error = result.err().expect("links cannot come up before Linux 5.7");
        assert!(
            error.to_string().contains("cannot open a socket"),
            "{error}"
        );
    }
    let _ = std::fs::remove_dir_all(&bin);
}
