//! Shared test harness: run the binary, locate fixtures.
#![allow(dead_code)]

pub mod graph;
pub mod server;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/`.
pub fn fixture(path: &str) -> PathBuf {
    root().join("tests").join(path)
}

/// The original homelab config.
pub fn homelab() -> PathBuf {
    fixture("fixtures/configs/homelab-original.yaml")
}

/// Run `sandbot` with arguments; returns its output.
pub fn sandbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(args)
        .env("SANDBOT_LOG", "warn")
        .output()
        .expect("sandbot runs")
}

/// Stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
