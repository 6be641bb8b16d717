//! `starling`: see `starling --help`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = starling_cli::Cli::parse();
    let mut out = std::io::stdout();
    match starling_cli::run(cli, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", starling_shared::telemetry::chain(&e));
            ExitCode::FAILURE
        }
    }
}
