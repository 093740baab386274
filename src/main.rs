use std::process::ExitCode;

use clap::Parser;
use fluxjobs::cli::{Cli, Command};
use fluxjobs::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Status(args) => commands::status::run(&cli.global, args).await,
            Command::Rerun(args) => commands::rerun::run(&cli.global, args).await,
            Command::Reconcile(args) => commands::reconcile::run(&cli.global, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
