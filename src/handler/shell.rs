//! Shell handlers: `/bin/sh -c` with the input in the environment and on
//! stdin, never in the script text.

use super::{Invocation, Outcome};

/// Run a shell script for one invocation.
pub async fn run(_script: &str, _inv: &Invocation) -> Outcome {
    todo!()
}
