//! What the two binaries share: argument parsing, logging set-up, and
//! running a daemon until SIGINT/SIGTERM with a clean exit status,
//! reloading its configuration on SIGHUP.

use crate::error::StartError;
use crate::reload::Reload;
use crate::shutdown::SignalRequest;
use std::ffi::OsString;
use std::process::ExitCode;

/// Exit status for a configuration or usage problem.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for a daemon that could not start or failed while running.
pub const EXIT_FAILURE: u8 = 1;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon with this configuration file.
    Run(Option<String>),
    /// `list-interfaces [CONFIG]` (client only).
    ListInterfaces(Option<String>),
    /// `-v`, `--version`.
    Version,
    /// `-h`, `--help`.
    Help,
}

/// Parses the arguments after the program name; `Err` is a usage message.
pub fn parse_args(
    args: impl IntoIterator<Item = OsString>,
    allow_list_interfaces: bool,
) -> Result<Command, String> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => Ok(Command::Run(None)),
        ["-v" | "--version" | "version", ..] => Ok(Command::Version),
        ["-h" | "--help" | "help", ..] => Ok(Command::Help),
        ["list-interfaces", rest @ ..] if allow_list_interfaces => match rest {
            [] => Ok(Command::ListInterfaces(None)),
            [path] => Ok(Command::ListInterfaces(Some(path.to_string()))),
            _ => Err("list-interfaces takes at most one argument, the configuration file".into()),
        },
        [option, ..] if option.starts_with('-') => Err(format!("unknown option {option}")),
        [path] => Ok(Command::Run(Some(path.to_string()))),
        _ => Err("too many arguments: give at most one configuration file".into()),
    }
}

/// Sets up logging: info by default (actix-web's start-up chatter only
/// from warnings up), `RUST_LOG` honoured.
pub fn init_logging() {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .format_timestamp_millis()
    .init();
}

/// Runs `start` inside an actix system, then waits for SIGINT or SIGTERM;
/// SIGHUP meanwhile reloads the configuration ([`Reload`]). A failure to
/// start is printed as `program: error` on stderr.
pub fn run_daemon<T: Reload>(
    program: &str,
    start: impl FnOnce() -> Result<T, StartError>,
) -> ExitCode {
    crate::net::io_mode::configure_from_env();
    let system = actix::System::new();
    let result = system.block_on(async move {
        let mut signals = crate::shutdown::ShutdownSignals::install()
            .map_err(|source| StartError::Signals { source })?;
        let mut running = start()?;
        while signals.next().await == SignalRequest::Reload {
            running.reload().await;
        }
        drop(running);
        Ok::<(), StartError>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not through the logger: RUST_LOG=off must not hide why we stopped.
            eprintln!("{program}: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from), true)
    }

    #[test]
    fn understands_the_go_versions_arguments() {
        assert_eq!(parse(&[]), Ok(Command::Run(None)));
        assert_eq!(
            parse(&["/etc/engarde.yml"]),
            Ok(Command::Run(Some("/etc/engarde.yml".into())))
        );
        assert_eq!(parse(&["-v"]), Ok(Command::Version));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse(&["list-interfaces"]),
            Ok(Command::ListInterfaces(None))
        );
        assert_eq!(
            parse(&["list-interfaces", "x.yml"]),
            Ok(Command::ListInterfaces(Some("x.yml".into())))
        );
        assert!(
            parse(&["--frobnicate"])
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(parse(&["a", "b"]).is_err());
        assert!(
            parse_args(["list-interfaces"].map(OsString::from), false)
                .is_ok_and(|c| c == Command::Run(Some("list-interfaces".into())))
        );
    }
}
