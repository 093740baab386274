use std::process::ExitCode;

use clap::Parser;
use fluxjobs::cli::{Cli, Command};
use fluxjobs::commands;
use fluxjobs::context::Context;
use fluxjobs::error::{Error, for_user};
use fluxjobs::terminal::inert;

fn main() -> ExitCode {
    // kubectl's plugin-completion protocol, before clap: the words to complete may look like flags.
    let args: Vec<String> = std::env::args().collect();
    let completing = args.get(1).is_some_and(|a| a == "__complete");
    let cli = if completing { None } else { Some(Cli::parse()) };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {}", for_user(&Error::Runtime(e)));
            return ExitCode::FAILURE;
        }
    };
    let Some(cli) = cli else { return runtime.block_on(commands::complete::protocol(&args[2..])) };
    let result = runtime.block_on(async {
        let ctx = Context::from_flags(&cli.global)?;
        match &cli.command {
            Command::Status(args) => commands::status::run(&ctx, args).await,
            Command::Rerun(args) => commands::rerun::run(&ctx, args).await,
            Command::Reconcile(args) => commands::reconcile::run(&ctx, args).await,
            Command::Wait(args) => commands::wait::run(&ctx, args).await,
            Command::Completion(args) => commands::complete::script(args),
            Command::Version(args) => commands::version::run(&ctx, args).await,
            Command::Mcp(args) => commands::mcp::run(&cli.global, args).await,
        }
    });
    // A credential plugin that outlived its --request-timeout may still run on a blocking thread:
    // the process does not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            let usage = matches!(e, Error::Usage(_) | Error::NoSuchContext(_));
            // API errors carry text from admission policies and webhooks: inert, line by line.
            let text = for_user(&e);
            let lines: Vec<_> = text.lines().map(inert).collect();
            eprintln!("error: {}", lines.join("\n"));
            if usage { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}
