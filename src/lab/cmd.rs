//! Running the lab's system commands (ip, wg, nft, tc) with errors that say
//! which command failed and what it printed.

use std::io;
use std::process::{Command, Output, Stdio};

/// Runs `program args…`, failing with its stderr when it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> io::Result<String> {
    run_with_input(program, args, None)
}

/// Like [`run`], feeding `input` on standard input.
pub fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> io::Result<String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    if let Some(input) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin was piped")
            .write_all(input.as_bytes())?;
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed ({status}): {}",
            args.join(" "),
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Runs a command inside network namespace `ns` (`ip netns exec`).
pub fn run_in(ns: &str, program: &str, args: &[&str]) -> io::Result<String> {
    let mut full = vec!["netns", "exec", ns, program];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// `ip -n NS …`: an iproute2 command applied inside `ns`.
pub fn ip(ns: &str, args: &str) -> io::Result<String> {
    let mut full = vec!["-n", ns];
    full.extend(args.split_whitespace());
    run("ip", &full)
}

/// True when `program` is on the PATH.
pub fn exists(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
