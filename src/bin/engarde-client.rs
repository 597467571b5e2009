//! engarde-client: sends every WireGuard datagram through every usable
//! network interface to engarde-server.

use engarde::cli::{Command, EXIT_USAGE, init_logging, parse_args, run_daemon};
use engarde::client::{ClientLinks, start_client};
use engarde::config::{Destination, config_path, load_client};
use engarde::interfaces::{LinkPolicy, discover, survey};
use engarde::reload::ClientDaemon;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

const HELP: &str = "\
usage: engarde-client [CONFIG]            run with CONFIG (default: engarde.yml)
       engarde-client list-interfaces [CONFIG]
                                          show every interface and whether engarde uses it
       engarde-client -v | --version      print the version
       engarde-client -h | --help         print this help

Reads the `client:` section of CONFIG. Logs go to standard error; set
RUST_LOG=debug for more detail. SIGINT or SIGTERM stops it cleanly; SIGHUP
reads CONFIG again and applies it without a restart.";

fn main() -> ExitCode {
    let command = match parse_args(std::env::args_os().skip(1), true) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("engarde-client: {message}\n\n{HELP}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Version => println!("engarde-client {}", engarde::VERSION),
        Command::Help => println!("{HELP}"),
        Command::ListInterfaces(path) => return list_interfaces(path.as_deref()),
        Command::Run(path) => {
            init_logging();
            let path = config_path(path.as_deref());
            let config = match load_client(&path) {
                Ok(config) => config,
                Err(error) => {
                    // Not through the logger: RUST_LOG=off must not hide why we stopped.
                    eprintln!("engarde-client: {error}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            if !config.description.is_empty() {
                log::info!("{}", config.description);
            }
            return run_daemon("engarde-client", || {
                let running = start_client(&config, ClientLinks::default())?;
                Ok(ClientDaemon::new("engarde-client", path, config, running))
            });
        }
    }
    ExitCode::SUCCESS
}

/// Prints the interface table; the configuration is optional unless named.
fn list_interfaces(path: Option<&str>) -> ExitCode {
    let file = config_path(path);
    let policy = match load_client(&file) {
        Ok(config) => LinkPolicy::from_config(&config),
        Err(_) if path.is_none() && !Path::new(&file).exists() => {
            println!(
                "(no {} here: showing interfaces without exclusions or destinations)\n",
                file.display()
            );
            LinkPolicy {
                destination: Some(Destination::new(
                    "(no configuration)",
                    vec![
                        "0.0.0.0:9".parse().expect("literal address"),
                        "[::]:9".parse().expect("literal address"),
                    ],
                )),
                ..LinkPolicy::default()
            }
        }
        Err(error) => {
            eprintln!("engarde-client: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match discover() {
        Ok(interfaces) => {
            print!(
                "{}",
                engarde::list_interfaces::render(
                    &survey(interfaces, &policy, &BTreeMap::new()),
                    &policy
                )
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("engarde-client: cannot read the network interfaces: {error}");
            ExitCode::from(engarde::cli::EXIT_FAILURE)
        }
    }
}
