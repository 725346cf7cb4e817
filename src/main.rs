//! The `sandbot` binary: parse the command line, start tracing, dispatch.

fn main() {}
