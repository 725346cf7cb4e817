//! `sandbot chat`: a conversation in the terminal.
//!
//! Reads lines, hands each to the [`Bot`] as the address `terminal:<id>`
//! and prints what comes back: the message, handler output as is, and the
//! buttons numbered (`[1] Setup  [2] Back`). A line that is a number taps
//! that button; `/reset`, `/state` and `/quit` are commands; anything else
//! is sent as typed text. Replies the bot sends to other people (an
//! approval request to an admin) are printed as `→ to <address>: …`, so the
//! whole exchange can be followed from one terminal. End of input quits.

use std::io::Write;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::bot::Bot;
use crate::channel::{Button, Delivery, Inbound, Input, Reply};

/// What one typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing: an empty line.
    Empty,
    /// `/quit`.
    Quit,
    /// `/reset`: back to the start state.
    Reset,
    /// `/state`: print the current state's id.
    State,
    /// `/help` or an unknown `/command`.
    Help,
    /// A number: tap that button (1-based).
    Pick(usize),
    /// Anything else, sent as text.
    Text(String),
}

impl Line {
    /// Read one line of input.
    pub fn parse(line: &str) -> Line {
        let line = line.trim();
        match line {
            "" => Line::Empty,
            "/quit" | "/exit" => Line::Quit,
            "/reset" => Line::Reset,
            "/state" => Line::State,
            _ if line.starts_with('/') => Line::Help,
            _ => match line.parse::<usize>() {
                Ok(n) => Line::Pick(n),
                Err(_) => Line::Text(line.to_string()),
            },
        }
    }
}

const HELP: &str = "Type a message, a button number, /reset, /state or /quit.";

/// A conversation between one terminal and the bot.
pub struct Terminal<W> {
    bot: Bot,
    address: String,
    out: W,
    /// The buttons shown last, which numbers refer to.
    buttons: Vec<Button>,
}

impl<W: Write> Terminal<W> {
    /// A conversation as `address`, printing to `out`.
    pub fn new(bot: Bot, address: String, out: W) -> Terminal<W> {
        Terminal {
            bot,
            address,
            out,
            buttons: Vec::new(),
        }
    }

    /// Show the current state, then talk until `/quit` or end of input.
    pub async fn run<R: AsyncBufRead + Unpin>(&mut self, input: R) -> std::io::Result<()> {
        let reply = self.bot.current_reply(&self.address);
        self.show(&reply)?;
        let mut lines = input.lines();
        loop {
            write!(self.out, "> ")?;
            self.out.flush()?;
            let Some(line) = lines.next_line().await? else {
                return writeln!(self.out);
            };
            if !self.step(Line::parse(&line)).await? {
                return Ok(());
            }
        }
    }

    /// Act on one line; false when the conversation should end.
    pub async fn step(&mut self, line: Line) -> std::io::Result<bool> {
        match line {
            Line::Empty => {}
            Line::Quit => return Ok(false),
            Line::Help => writeln!(self.out, "{HELP}")?,
            Line::State => writeln!(self.out, "state: {}", self.bot.current_state(&self.address))?,
            Line::Reset => {
                let reply = self.bot.reset(&self.address);
                self.show(&reply)?;
            }
            Line::Pick(n) => match self.buttons.get(n.wrapping_sub(1)) {
                Some(button) => self.send(Input::Payload(button.payload.clone())).await?,
                None => writeln!(self.out, "There is no button {n}.")?,
            },
            Line::Text(text) => self.send(Input::Text(text)).await?,
        }
        Ok(true)
    }

    async fn send(&mut self, input: Input) -> std::io::Result<()> {
        let inbound = Inbound {
            address: self.address.clone(),
            message_id: None,
            input: Some(input),
        };
        let deliveries = self.bot.handle(inbound).await;
        self.show_all(&deliveries)
    }

    fn show_all(&mut self, deliveries: &[Delivery]) -> std::io::Result<()> {
        for d in deliveries {
            if d.to == self.address {
                self.show(&d.reply)?;
            } else {
                writeln!(self.out, "→ to {}: {}", d.to, d.reply.plain_text())?;
                if !d.reply.buttons.is_empty() {
                    writeln!(self.out, "  {}", button_titles(&d.reply.buttons))?;
                }
            }
        }
        Ok(())
    }

    fn show(&mut self, reply: &Reply) -> std::io::Result<()> {
        write!(self.out, "{}", format_reply(reply))?;
        self.buttons = reply.buttons.clone();
        Ok(())
    }
}

/// A reply as the terminal prints it: text, output, numbered buttons.
pub fn format_reply(reply: &Reply) -> String {
    let mut text = String::new();
    if !reply.text.is_empty() {
        text.push_str(reply.text.trim_end());
        text.push('\n');
    }
    if let Some(output) = &reply.output {
        text.push_str(output);
        if !output.ends_with('\n') {
            text.push('\n');
        }
    }
    if !reply.buttons.is_empty() {
        text.push_str(&numbered(&reply.buttons));
        text.push('\n');
    }
    text
}

/// `[1] Setup  [2] Back`.
fn numbered(buttons: &[Button]) -> String {
    let items: Vec<_> = buttons
        .iter()
        .enumerate()
        .map(|(i, b)| format!("[{}] {}", i + 1, b.title))
        .collect();
    items.join("  ")
}

/// `[Approve]  [Deny]`, for buttons that are someone else's to tap.
fn button_titles(buttons: &[Button]) -> String {
    let items: Vec<_> = buttons.iter().map(|b| format!("[{}]", b.title)).collect();
    items.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(title: &str) -> Button {
        Button {
            title: title.into(),
            payload: title.into(),
        }
    }

    #[test]
    fn numbers_commands_and_text_are_told_apart() {
        assert_eq!(Line::parse("  2 "), Line::Pick(2));
        assert_eq!(Line::parse("/reset"), Line::Reset);
        assert_eq!(Line::parse("/state"), Line::State);
        assert_eq!(Line::parse("/quit"), Line::Quit);
        assert_eq!(Line::parse("/nope"), Line::Help);
        assert_eq!(Line::parse(""), Line::Empty);
        assert_eq!(Line::parse("Alex 2"), Line::Text("Alex 2".into()));
    }

    #[test]
    fn a_reply_prints_its_text_output_and_numbered_buttons() {
        let reply = Reply {
            text: "Pick one".into(),
            output: Some("line 1\nline 2".into()),
            buttons: vec![button("Setup"), button("Back")],
        };
        assert_eq!(
            format_reply(&reply),
            "Pick one\nline 1\nline 2\n[1] Setup  [2] Back\n"
        );
    }

    #[test]
    fn a_reply_without_buttons_prints_no_button_line() {
        assert_eq!(format_reply(&Reply::text("Done.")), "Done.\n");
    }
}
