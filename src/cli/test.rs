//! `sandbot test CONFIG TESTS.yaml`: run scripted conversations against a
//! config and report which pass.
//!
//! See [`crate::scenario`] for the file format. Prints one line per test,
//! the reason for each failure, and `N passed, M failed`; exits 1 when any
//! test fails or the files cannot be used.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::scenario::{self, Report};

/// Arguments of `sandbot test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(env = "CONFIG")]
    pub config: PathBuf,
    /// The conversation tests, a YAML file.
    #[arg(env = "SANDBOT_TESTS")]
    pub tests: PathBuf,
}

/// Run the tests.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, runner) = match super::chat::prepare(&args.config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let scenarios = match scenario::load(&args.tests) {
        Ok(scenarios) => scenarios,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut report = Report::default();
    for test in &scenarios {
        let result = scenario::run(config.clone(), runner.clone(), test).await;
        match &result {
            Ok(()) => println!("ok    {}", test.name),
            Err(failure) => println!("FAIL  {failure}"),
        }
        report.record(&test.name, result);
    }
    println!("{}", report.summary());
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
