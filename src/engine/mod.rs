//! The conversation engine: one message in, the decision out. Pure.
//!
//! Given the config, who is speaking, the state they are in and what they
//! sent, [`Engine::respond`] decides what happens: move to another state,
//! stay and explain, run the state's handler, or ask for approval. It
//! performs no I/O; the [`bot`](crate::bot) carries the decision out and
//! comes back to [`Engine::after_run`] to word the handler's result.
//!
//! Rules, in order (see product.md, "Conversation semantics"):
//! 1. A button payload or typed text naming an event with a transition
//!    from the current state takes it (self-loops included), unless the
//!    new state needs permissions the sender lacks. Typed text also matches
//!    an event's button title, ignoring case.
//! 2. The Get Started event always works: from a state with no transition
//!    for it, the conversation restarts at the start state and takes it
//!    from there.
//! 3. Otherwise typed text in a state with a default handler is the
//!    handler's input: checked against the command's input rules, then run
//!    if the sender may, or sent for approval if the command has approvers.
//! 4. Anything else is not understood, and the buttons are offered again.

use crate::channel::{Button, Input, Reply};
use crate::config::{Command, Config, State};
use crate::handler::{Limits, Outcome};
use crate::rbac::Principal;

/// What the engine decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Move to `state` (possibly the same one) and send `reply`.
    Move {
        /// The new state.
        state: String,
        /// Its message and buttons.
        reply: Reply,
    },
    /// Stay in the current state and send `reply`.
    Stay {
        /// Why nothing happened, with the buttons again.
        reply: Reply,
    },
    /// Run `command` on `input` for the sender, who may run it.
    Run {
        /// Command id.
        command: String,
        /// The sender's text.
        input: String,
    },
    /// The sender may not run `command`; ask its approvers.
    Ask {
        /// Command id.
        command: String,
        /// The sender's text.
        input: String,
    },
}

/// Decides conversations over one config.
#[derive(Debug, Clone, Copy)]
pub struct Engine<'c> {
    config: &'c Config,
}

impl<'c> Engine<'c> {
    /// An engine over `config`.
    pub fn new(config: &'c Config) -> Engine<'c> {
        Engine { config }
    }

    /// The state a stored state id stands for: the start state when there
    /// is none yet or when it no longer exists in the config.
    pub fn current<'a>(&self, stored: Option<&'a str>) -> &'c State {
        let fallback = &self.config.states[self.config.initial_state.as_str()];
        stored
            .and_then(|id| self.config.states.get(id))
            .unwrap_or(fallback)
    }

    /// Decide what one message does.
    pub fn respond(&self, who: &Principal, state: &State, input: Option<&Input>) -> Step {
        let Some(input) = input.filter(|i| !i.as_str().trim().is_empty()) else {
            return self.not_understood(state);
        };
        if let Some(event) = self.event_for(state, input) {
            return self.take(who, state, event);
        }
        if self.is_get_started(input) {
            let start = self.current(None);
            return match self.event_for(start, input) {
                Some(event) => self.take(who, start, event),
                None => Step::Move {
                    state: start.id.clone(),
                    reply: self.state_reply(start),
                },
            };
        }
        match (input, &state.default_handler) {
            (Input::Text(text), Some(command)) => {
                self.handler_step(who, state, &self.config.commands[command], text)
            }
            _ => self.not_understood(state),
        }
    }

    /// The message and buttons of a state.
    pub fn state_reply(&self, state: &State) -> Reply {
        Reply {
            text: state.message.trim_end().to_string(),
            output: None,
            buttons: self.buttons(state),
        }
    }

    /// The events leading out of a state as buttons, ordered by `orderID`
    /// (ties keep file order), each event once.
    pub fn buttons(&self, state: &State) -> Vec<Button> {
        let mut events: Vec<(usize, &crate::config::Event)> = Vec::new();
        for t in self
            .config
            .transitions
            .iter()
            .filter(|t| t.src.contains(&state.id))
        {
            if let Some((index, _, event)) = self.config.events.get_full(&t.event)
                && !events.iter().any(|(i, _)| *i == index)
            {
                events.push((index, event));
            }
        }
        events.sort_by_key(|(index, e)| (e.order_id, *index));
        events
            .into_iter()
            .map(|(_, e)| Button {
                title: e.message.clone(),
                payload: e.id.clone(),
            })
            .collect()
    }

    /// Word a handler's result for the person it ran for, and follow the
    /// event it asks for, if the current state has a transition for it.
    /// Returns the replies and the state to move to, if any.
    pub fn after_run(
        &self,
        who: &Principal,
        state: &State,
        command: &Command,
        outcome: &Outcome,
        limits: &Limits,
    ) -> (Vec<Reply>, Option<String>) {
        let mut replies = result_replies(command, outcome, limits);
        let next = outcome
            .event
            .as_deref()
            .filter(|_| outcome.status.is_success())
            .and_then(|e| self.event_for(state, &Input::Payload(e.to_string())))
            .map(|event| self.take(who, state, event));
        match next {
            Some(Step::Move {
                state,
                reply: moved,
            }) => {
                replies.push(moved);
                (replies, Some(state))
            }
            _ => {
                if let Some(last) = replies.last_mut() {
                    last.buttons = self.buttons(state);
                }
                (replies, None)
            }
        }
    }

    /// The event an input names, among those leading out of `state`.
    fn event_for(&self, state: &State, input: &Input) -> Option<&'c crate::config::Event> {
        let outgoing = self
            .config
            .transitions
            .iter()
            .filter(|t| t.src.contains(&state.id))
            .filter_map(|t| self.config.events.get(&t.event));
        let mut outgoing: Vec<_> = outgoing.collect();
        match input {
            Input::Payload(p) => outgoing.into_iter().find(|e| &e.id == p),
            Input::Text(text) => {
                let text = text.trim();
                let exact = outgoing.iter().position(|e| e.id == text);
                let loose = || {
                    outgoing.iter().position(|e| {
                        e.id.eq_ignore_ascii_case(text)
                            || e.message.trim().eq_ignore_ascii_case(text)
                    })
                };
                exact.or_else(loose).map(|i| outgoing.swap_remove(i))
            }
        }
    }

    /// Whether the input is the Get Started event.
    fn is_get_started(&self, input: &Input) -> bool {
        input.as_str().trim() == self.config.get_started_event
    }

    /// Take `event` from `state`, checking the destination's permissions.
    fn take(&self, who: &Principal, state: &State, event: &crate::config::Event) -> Step {
        let transition = self
            .config
            .transitions
            .iter()
            .find(|t| t.event == event.id && t.src.contains(&state.id))
            .expect("event_for only returns events with a transition");
        let dst = &self.config.states[transition.dst.as_str()];
        if !who.check(self.config, &dst.permissions).is_allowed() {
            let text = format!("Sorry, you don't have access to \"{}\".", event.message);
            return Step::Stay {
                reply: Reply {
                    text,
                    output: None,
                    buttons: self.buttons(state),
                },
            };
        }
        Step::Move {
            state: dst.id.clone(),
            reply: self.state_reply(dst),
        }
    }

    /// Free text for a state's handler.
    fn handler_step(&self, who: &Principal, state: &State, command: &Command, text: &str) -> Step {
        if let Err(problem) = check_input(command, text) {
            let reply = Reply {
                text: problem,
                output: None,
                buttons: self.buttons(state),
            };
            return Step::Stay { reply };
        }
        let (command_id, input) = (command.id.clone(), text.to_string());
        if who.may_run(self.config, command) {
            return Step::Run {
                command: command_id,
                input,
            };
        }
        if command.approved_by.is_some() {
            return Step::Ask {
                command: command_id,
                input,
            };
        }
        let text = format!(
            "Sorry, you are not allowed to run \"{}\".",
            command.pretty_name
        );
        Step::Stay {
            reply: Reply {
                text,
                output: None,
                buttons: self.buttons(state),
            },
        }
    }

    /// The not-understood reply, with the state's buttons again.
    fn not_understood(&self, state: &State) -> Step {
        let buttons = self.buttons(state);
        let text = if buttons.is_empty() {
            "Sorry, I didn't understand that.".to_string()
        } else {
            "Sorry, I didn't understand that. Please choose one of the options.".to_string()
        };
        Step::Stay {
            reply: Reply {
                text,
                output: None,
                buttons,
            },
        }
    }
}

/// Check a handler input against the command's rules.
pub fn check_input(command: &Command, text: &str) -> Result<(), String> {
    let rules = &command.input;
    if let Some(max) = rules.max_length {
        let len = text.chars().count();
        if len > max {
            return Err(format!(
                "That's too long: at most {max} characters, please (got {len})."
            ));
        }
    }
    if let (Some(re), Some(pattern)) = (&rules.pattern, &rules.pattern_text)
        && !re.is_match(text)
    {
        return Err(format!(
            "That doesn't look like valid input for \"{}\". It must match: {pattern}",
            command.pretty_name
        ));
    }
    Ok(())
}

/// The replies for a finished run (without buttons): the output or a
/// short line, then `onSuccess` after a successful run.
fn result_replies(command: &Command, outcome: &Outcome, limits: &Limits) -> Vec<Reply> {
    let output = outcome.output.trim_end();
    let show = command.show_cmd_output && !output.is_empty();
    let text = match (&outcome.status, show) {
        (status, _) if !status.is_success() => status.describe(limits),
        (_, true) => String::new(),
        (_, false) => format!("Done: {}.", command.pretty_name),
    };
    let mut replies = vec![Reply {
        text,
        output: show.then(|| output.to_string()),
        buttons: Vec::new(),
    }];
    if let Some(extra) = command
        .on_success
        .as_deref()
        .filter(|_| outcome.status.is_success())
    {
        replies.push(Reply::text(extra.trim_end()));
    }
    replies
}

#[cfg(test)]
mod tests;
