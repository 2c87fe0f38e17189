//! Entry point: parse the command line, set up logging on stderr, run, map errors to exit codes
//! (the one place an error is printed).

use std::process::ExitCode;

use clap::Parser;

use atlassian_mcp_bridge::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout and errors to stderr, with its own exit code.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Printed once, here. `eprintln!` would panic if stderr is gone (a client that
            // closed it); the exit code still says what happened.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            e.exit_code()
        }
    }
}

/// Logs go to stderr only: stdout carries JSON-RPC while serving.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `level` or `target=level,…` lists (`Targets`: no regular expressions, so no regex engine
    // in the build); an unset, empty or unreadable variable falls through to the next, then `warn`.
    let parse = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
    };
    let filter = parse("ATLASSIAN_MCP_BRIDGE_LOG")
        .or_else(|| parse("RUST_LOG"))
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::WARN)
        });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        // A log line that cannot be written (stderr closed) is dropped; the default reports
        // it with `eprintln!`, which panics on that same closed stderr.
        .log_internal_errors(false);
    tracing_subscriber::registry().with(fmt).with(filter).init();
}
