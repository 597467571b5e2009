//! Running the real binaries from tests: a temporary directory that removes
//! itself, a one-shot run bounded by a timeout, and a daemon whose standard
//! error is read line by line while it runs.
//!
//! Every wait is bounded and a child that outlives its test is killed, so a
//! hung binary fails the test instead of hanging the run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Longest a one-shot run (`-v`, a bad config, list-interfaces) may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(10);

pub const CLIENT: &str = env!("CARGO_BIN_EXE_engarde-client");
pub const SERVER: &str = env!("CARGO_BIN_EXE_engarde-server");

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `tag` names the test; the process id and a counter keep parallel
    /// tests and runs apart.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("engarde-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` in this directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command for `binary` with a predictable environment: default log
/// level, no backtraces asked for.
pub fn command(binary: &str, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    command
}

/// Runs `binary args` in `dir` to completion; kills it and fails the test
/// after [`RUN_TIMEOUT`].
pub fn run(binary: &str, args: &[&str], dir: &Path) -> Output {
    let mut command = command(binary, dir);
    command.args(args);
    run_command(command)
}

/// Runs a prepared `command` to completion, as [`run`].
pub fn run_command(command: Command) -> Output {
    run_command_within(command, RUN_TIMEOUT)
}

/// Runs a prepared `command` to completion, killing it after `timeout`.
pub fn run_command_within(mut command: Command, timeout: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let pid = child.id();
    let (done, result) = channel();
    // wait_with_output drains both pipes, so a chatty child cannot block on
    // a full pipe; the thread lets this one enforce the timeout.
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match result.recv_timeout(timeout) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("{command:?} did not exit within {timeout:?}; killed it");
        }
    }
}

/// Sends `sig` to the process `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes plain integers and touches no memory of ours;
    // `pid` is a child this test started and has not yet reaped.
    let result = unsafe { libc::kill(pid, sig) };
    assert_eq!(result, 0, "kill({pid}, {sig}) failed");
}

/// A running daemon whose standard error lines arrive on a channel.
pub struct Daemon {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far, for assertions and failure messages.
    pub stderr: Vec<String>,
}

impl Daemon {
    pub fn start(binary: &str, args: &[&str], dir: &Path) -> Self {
        let mut child = command(binary, dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads standard error until a line contains `text`; fails the test if
    /// none does within `limit` or the daemon closes standard error first.
    pub fn wait_for_line(&mut self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.stderr.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no line with {text:?} within {limit:?}; stderr so far: {:#?}",
                        self.stderr
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "stderr closed before a line with {text:?}: {:#?}",
                        self.stderr
                    )
                }
            }
        }
    }

    /// Waits for the daemon to exit (failing after `limit`), then collects
    /// the rest of its standard error.
    pub fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after being asked to stop; stderr: {:#?}",
                self.stderr
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at end of file, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed assertion must not leave the daemon running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
