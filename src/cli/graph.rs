//! `sandbot graph`: the conversation as a graph.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz dot.
    Dot,
    /// Mermaid state diagram.
    Mermaid,
}

/// Arguments of `sandbot graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(env = "CONFIG")]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot", env = "SANDBOT_GRAPH_FORMAT")]
    pub format: Format,
}

/// Print the graph.
pub fn run(args: Args) -> ExitCode {
    let loaded = match super::load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let text = match args.format {
        Format::Dot => dot(&loaded.config),
        Format::Mermaid => mermaid(&loaded.config),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// Each transition edge as (from, to, button title), in file order.
fn edges(config: &Config) -> Vec<(&str, &str, &str)> {
    let mut out = Vec::new();
    for t in &config.transitions {
        let title = config.events.get(&t.event).map(|e| e.message.as_str()).unwrap_or(&t.event);
        for src in &t.src {
            out.push((src.as_str(), t.dst.as_str(), title));
        }
    }
    out
}

/// Graphviz dot: states as nodes (handler states as bold boxes showing
/// their command), events as labelled edges.
pub fn dot(config: &Config) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let q = |s: &str| format!("\"{}\"", esc(s));
    let mut out = String::from("digraph sandbot {\n  rankdir=LR;\n  node [shape=ellipse];\n");
    for state in config.states.values() {
        let mut attrs = Vec::new();
        if state.id == config.initial_state {
            attrs.push("shape=doublecircle".to_string());
        }
        if let Some(cmd) = &state.default_handler {
            attrs.push("shape=box, style=bold".to_string());
            attrs.push(format!("label=\"{}\\n[handler: {}]\"", esc(&state.id), esc(cmd)));
        }
        let _ = writeln!(out, "  {} [{}];", q(&state.id), attrs.join(", "));
    }
    for (src, dst, title) in edges(config) {
        let _ = writeln!(out, "  {} -> {} [label={}];", q(src), q(dst), q(title));
    }
    out.push_str("}\n");
    out
}

/// Mermaid `stateDiagram-v2`.
pub fn mermaid(config: &Config) -> String {
    let id = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
    };
    let label = |s: &str| s.replace([':', '\n'], " ");
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "  [*] --> {}", id(&config.initial_state));
    for state in config.states.values() {
        match &state.default_handler {
            Some(cmd) => {
                let _ = writeln!(out, "  {}: {} (handler {cmd})", id(&state.id), label(&state.id));
                let _ = writeln!(out, "  class {} handler", id(&state.id));
            }
            None => {
                let _ = writeln!(out, "  {}: {}", id(&state.id), label(&state.id));
            }
        }
    }
    for (src, dst, title) in edges(config) {
        let _ = writeln!(out, "  {} --> {}: {}", id(src), id(dst), label(title));
    }
    out.push_str("  classDef handler font-weight:bold,stroke-width:3px\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    const HOMELAB: &str = include_str!("../../tests/fixtures/configs/homelab-original.yaml");

    fn homelab() -> Config {
        load_str(HOMELAB, Path::new("h.yaml")).unwrap().config
    }

    #[test]
    fn dot_has_every_state_and_labelled_edges_with_handlers_marked() {
        let text = dot(&homelab());
        assert!(text.starts_with("digraph sandbot {"));
        assert!(text.contains("\"Initial\" -> \"Hello\" [label=\"Get Started!\"];"));
        assert!(text.contains("\"SetupWireguard\" [shape=box, style=bold, label=\"SetupWireguard\\n[handler: setup_wireguard]\"];"));
        assert!(text.contains("\"Info\" -> \"Info\" [label=\"Help\"];"));
    }

    #[test]
    fn mermaid_starts_at_the_start_state_and_marks_handlers() {
        let text = mermaid(&homelab());
        assert!(text.contains("[*] --> Initial"));
        assert!(text.contains("SetupOpenWRTDNS --> Setup: Back"));
        assert!(text.contains("class SetupEmailAlias handler"));
    }
}
