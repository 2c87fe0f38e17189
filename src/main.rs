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
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATLASSIAN_MCP_BRIDGE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        // A log line that cannot be written (stderr closed) is dropped; the default reports
        // it with `eprintln!`, which panics on that same closed stderr.
        .log_internal_errors(false)
        .init();
}
