//! engarde-server: hands every client datagram to the local WireGuard and
//! sends every WireGuard reply to every live client address.

use engarde::cli::{Command, EXIT_USAGE, init_logging, parse_args, run_daemon};
use engarde::config::{config_path, load_server};
use engarde::reload::ServerDaemon;
use engarde::server::start_server;
use std::process::ExitCode;

const HELP: &str = "\
usage: engarde-server [CONFIG]            run with CONFIG (default: engarde.yml)
       engarde-server -v | --version      print the version
       engarde-server -h | --help         print this help

Reads the `server:` section of CONFIG. Logs go to standard error; set
RUST_LOG=debug for more detail. SIGINT or SIGTERM stops it cleanly; SIGHUP
reads CONFIG again and applies it without a restart.";

fn main() -> ExitCode {
    let command = match parse_args(std::env::args_os().skip(1), false) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("engarde-server: {message}\n\n{HELP}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Version => println!("engarde-server {}", engarde::VERSION),
        Command::Help => println!("{HELP}"),
        Command::ListInterfaces(_) => {
            unreachable!("parse_args refuses list-interfaces for the server")
        }
        Command::Run(path) => {
            init_logging();
            let path = config_path(path.as_deref());
            let config = match load_server(&path) {
                Ok(config) => config,
                Err(error) => {
                    // Not through the logger: RUST_LOG=off must not hide why we stopped.
                    eprintln!("engarde-server: {error}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            if !config.description.is_empty() {
                log::info!("{}", config.description);
            }
            return run_daemon("engarde-server", || {
                let running = start_server(&config)?;
                Ok(ServerDaemon::new("engarde-server", path, config, running))
            });
        }
    }
    ExitCode::SUCCESS
}
