//! engarde-demo: builds a three-link lab with real WireGuard on this
//! machine, cuts links under a running stream and prints what was lost.
//! Needs root, wireguard-go, wireguard-tools, iproute2 and nftables.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "-h" || a == "--help")
    {
        println!(
            "usage: engarde-demo\n\nRuns engarde-client and engarde-server (found next to this binary) in network\nnamespaces with three links and wireguard-go, cuts links while a stream runs,\nand prints a per-phase table of sent and lost packets. Run as root."
        );
        return ExitCode::SUCCESS;
    }
    let directory = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .unwrap_or_default();
    let (client, server) = (
        directory.join("engarde-client"),
        directory.join("engarde-server"),
    );
    for binary in [&client, &server] {
        if !binary.exists() {
            eprintln!(
                "engarde-demo: {} not found: build all binaries (cargo build --release)",
                binary.display()
            );
            return ExitCode::FAILURE;
        }
    }
    match engarde::lab::demo::run(client, server) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("engarde-demo: packets were lost with engarde running; see the table above");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("engarde-demo: {error}");
            ExitCode::FAILURE
        }
    }
}
