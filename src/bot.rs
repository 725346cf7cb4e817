//! The bot: one inbound message in, every reply it causes out.
//!
//! Ties the pure [`engine`](crate::engine) to the store, the approval
//! lifecycle and the handler runners. Channels call [`Bot::handle`] and
//! deliver what it returns; nothing here knows about HTTP. Callers keep
//! one address's messages in order (the server's dispatcher does).
//!
//! Who is speaking is worked out from the address alone:
//! - an address bound to a configured user (web login links) is that user;
//! - `messenger:ID`, `terminal:ID` and `cli:ID` are the configured user
//!   `ID` when there is one (Messenger ids come from signed webhooks; the
//!   terminal and CLI are run by the operator);
//! - an address that is itself a configured user id is that user;
//! - anyone else is a guest.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::approval::{self, Refusal};
use crate::channel::{Delivery, Inbound, Input, Reply, channel_of, local_id};
use crate::config::{Command, Config, Role, State};
use crate::engine::{self, Engine, Step};
use crate::handler::{Capabilities, Invocation, Limits, Outcome, RunUser, Runner};
use crate::rbac::{self, Principal};
use crate::store::{self, Approval, AuditRecord, DecideOutcome, Decision, Store};

/// Channels whose address ids are configured user ids.
const ID_CHANNELS: [&str; 3] = ["messenger", "terminal", "cli"];

/// The conversation service shared by every channel.
#[derive(Clone)]
pub struct Bot {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
}

/// Who sent a message.
struct Sender {
    /// Their address.
    address: String,
    /// Their authority.
    principal: Principal,
    /// A name to show others.
    name: String,
}

/// A handler run to carry out.
struct Run<'a> {
    /// The command.
    command: &'a Command,
    /// The user's input.
    input: &'a str,
    /// Who the run is for (gets the result).
    user: &'a Sender,
    /// Whose grants it runs with.
    authority: &'a Principal,
    /// The state the input arrived in.
    state: &'a State,
    /// The approval it carries out, if any.
    approval: Option<&'a Approval>,
}

impl Bot {
    /// A bot over a loaded config, a store and prepared handlers.
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, runner: Arc<Runner>) -> Bot {
        Bot {
            config,
            store,
            runner,
        }
    }

    /// The config the bot runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store the bot writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Handle one inbound message; returns every reply it causes, to the
    /// sender and to anyone else (approvers, requesters).
    pub async fn handle(&self, inbound: Inbound) -> Vec<Delivery> {
        let address = inbound.address.clone();
        match self.try_handle(inbound).await {
            Ok(deliveries) => deliveries,
            Err(e) => {
                tracing::error!(%address, error = format!("{e:#}"), "failed to handle message");
                let sorry =
                    Reply::text("Sorry, something went wrong on my side. Please try again.");
                vec![Delivery {
                    to: address,
                    reply: sorry,
                }]
            }
        }
    }

    /// What the bot shows an address now: its current state's message and
    /// buttons (the start state for a new conversation).
    pub fn current_reply(&self, address: &str) -> Reply {
        let engine = Engine::new(&self.config);
        engine.state_reply(engine.current(self.stored_state(address).as_deref()))
    }

    /// The state an address is in now.
    pub fn current_state(&self, address: &str) -> String {
        let engine = Engine::new(&self.config);
        engine
            .current(self.stored_state(address).as_deref())
            .id
            .clone()
    }

    /// Send an address back to the start state; returns the start reply.
    pub fn reset(&self, address: &str) -> Reply {
        let engine = Engine::new(&self.config);
        let start = engine.current(None);
        if let Err(e) = self.store.set_conversation_state(address, &start.id) {
            tracing::error!(%address, error = %e, "failed to reset conversation");
        }
        engine.state_reply(start)
    }

    /// Decide an approval acting from `address` (e.g. `cli:USER`), with
    /// the same checks as a tap in chat.
    pub async fn decide(&self, address: &str, approval: &str, decision: Decision) -> Vec<Delivery> {
        let sender = match self.sender(address) {
            Ok(sender) => sender,
            Err(e) => {
                tracing::error!(%address, error = %e, "failed to identify decider");
                return Vec::new();
            }
        };
        match self.decide_as(&sender, approval, decision).await {
            Ok(deliveries) => deliveries,
            Err(e) => {
                tracing::error!(%address, error = format!("{e:#}"), "failed to decide approval");
                let sorry = Reply::text("Sorry, something went wrong on my side.");
                vec![Delivery {
                    to: address.to_string(),
                    reply: sorry,
                }]
            }
        }
    }

    /// [`Self::handle`] with errors.
    async fn try_handle(&self, inbound: Inbound) -> anyhow::Result<Vec<Delivery>> {
        if let Some(id) = &inbound.message_id
            && !self.store.mark_message_seen(id)?
        {
            tracing::debug!(address = %inbound.address, "duplicate message ignored");
            return Ok(Vec::new());
        }
        let sender = self.sender(&inbound.address)?;
        if let Some(Input::Payload(p)) = &inbound.input
            && let Some((decision, id)) = approval::parse_payload(p)
        {
            return self.decide_as(&sender, id, decision).await;
        }
        self.converse(&sender, inbound.input.as_ref()).await
    }

    /// Run the engine for one message and carry out its decision.
    async fn converse(
        &self,
        sender: &Sender,
        input: Option<&Input>,
    ) -> anyhow::Result<Vec<Delivery>> {
        let engine = Engine::new(&self.config);
        let stored = self.store.conversation_state(&sender.address)?;
        let state = engine.current(stored.as_deref());
        let step = engine.respond(&sender.principal, state, input);
        tracing::debug!(address = %sender.address, state = %state.id, step = step_name(&step), "decided");
        let to = sender.address.clone();
        match step {
            Step::Move { state: next, reply } => {
                self.store.set_conversation_state(&sender.address, &next)?;
                Ok(vec![Delivery { to, reply }])
            }
            Step::Stay { reply } => {
                if stored.as_deref() != Some(state.id.as_str()) {
                    self.store
                        .set_conversation_state(&sender.address, &state.id)?;
                }
                Ok(vec![Delivery { to, reply }])
            }
            Step::Run { command, input } => {
                let command = &self.config.commands[command.as_str()];
                let run = Run {
                    command,
                    input: &input,
                    user: sender,
                    authority: &sender.principal,
                    state,
                    approval: None,
                };
                let (replies, _) = self.run(run).await?;
                Ok(replies
                    .into_iter()
                    .map(|reply| Delivery {
                        to: to.clone(),
                        reply,
                    })
                    .collect())
            }
            Step::Ask { command, input } => self.ask(sender, state, &command, &input),
        }
    }

    /// Start an approval and tell the approvers and the requester.
    fn ask(
        &self,
        sender: &Sender,
        state: &State,
        command: &str,
        input: &str,
    ) -> anyhow::Result<Vec<Delivery>> {
        let command = &self.config.commands[command];
        let engine = Engine::new(&self.config);
        let role = command.approved_by.as_deref().unwrap_or_default();
        let approvers: Vec<String> = rbac::holders(&self.config, role)
            .into_iter()
            .map(|u| self.addresses_of(&u.id))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .filter(|a| a != &sender.address)
            .collect();
        let mut reply = engine.state_reply(state);
        if approvers.is_empty() {
            reply.text = format!(
                "Sorry, nobody can approve \"{}\" right now.",
                command.pretty_name
            );
            return Ok(vec![Delivery {
                to: sender.address.clone(),
                reply,
            }]);
        }
        let request = approval::new_request(
            command,
            &sender.address,
            &sender.name,
            &state.id,
            input,
            store::now(),
        );
        self.store.insert_approval(&request)?;
        tracing::info!(approval = %request.id, command = %command.id, requester = %sender.address, "approval requested");
        let message = approval::request_message(&request, command);
        let mut out: Vec<Delivery> = approvers
            .into_iter()
            .map(|to| Delivery {
                to,
                reply: message.clone(),
            })
            .collect();
        reply.text = format!(
            "You need approval to run \"{}\". I've asked for it and will tell you here when it's decided.",
            command.pretty_name
        );
        out.push(Delivery {
            to: sender.address.clone(),
            reply,
        });
        Ok(out)
    }

    /// Record a decision from `sender` and carry it out.
    async fn decide_as(
        &self,
        sender: &Sender,
        id: &str,
        decision: Decision,
    ) -> anyhow::Result<Vec<Delivery>> {
        let tell = |text: String| vec![self.note_to(&sender.address, text)];
        let Some(request) = self.store.approval(id)? else {
            tracing::warn!(decider = %sender.address, "decision on an unknown approval");
            return Ok(tell("That request does not exist.".into()));
        };
        let requester = self.sender(&request.requester)?;
        let allowed = approval::may_decide(
            &self.config,
            &request,
            &sender.principal,
            &sender.address,
            &requester.principal,
        )
        .and_then(|()| self.still_valid(&request));
        if let Err(refusal) = allowed {
            tracing::warn!(decider = %sender.address, approval = %id, %refusal, "decision refused");
            return Ok(tell(format!("Sorry, {refusal}.")));
        }
        let by = sender
            .principal
            .user
            .clone()
            .unwrap_or_else(|| sender.address.clone());
        match self
            .store
            .decide_approval(id, decision, &by, store::now())?
        {
            DecideOutcome::Recorded(request) => {
                self.carry_out(sender, &requester, &request, decision).await
            }
            DecideOutcome::AlreadyDecided(request) => {
                let word = approval::decided_word(&request.status);
                let who = approval::decided_by(&request.status)
                    .map(|u| self.name_of(u))
                    .unwrap_or_default();
                Ok(tell(format!("This request was already {word} by {who}.")))
            }
            DecideOutcome::Expired(_) => Ok(tell("This request has expired.".into())),
            DecideOutcome::NotFound => Ok(tell("That request does not exist.".into())),
        }
    }

    /// Whether a stored request still fits the current config.
    fn still_valid(&self, request: &Approval) -> Result<(), Refusal> {
        let command = self
            .config
            .commands
            .get(&request.command)
            .ok_or(Refusal::NoApprovers)?;
        engine::check_input(command, &request.input).map_err(|_| Refusal::NoApprovers)
    }

    /// After a recorded decision: run (on approval) and tell both sides.
    async fn carry_out(
        &self,
        decider: &Sender,
        requester: &Sender,
        request: &Approval,
        decision: Decision,
    ) -> anyhow::Result<Vec<Delivery>> {
        let command = &self.config.commands[request.command.as_str()];
        let engine = Engine::new(&self.config);
        tracing::info!(approval = %request.id, decider = %decider.address, ?decision, "approval decided");
        if decision == Decision::Deny {
            self.audit_denial(request, decider)?;
            let mut reply = self.current_reply(&requester.address);
            reply.text = format!(
                "Your request to run \"{}\" was denied by {}.",
                command.pretty_name, decider.name
            );
            let summary = format!("Denied. {} has been told.", requester.name);
            return Ok(vec![
                Delivery {
                    to: requester.address.clone(),
                    reply,
                },
                self.note_to(&decider.address, summary),
            ]);
        }
        let state = engine.current(Some(&request.state));
        let run = Run {
            command,
            input: &request.input,
            user: requester,
            authority: &decider.principal,
            state,
            approval: Some(request),
        };
        let (replies, outcome) = self.run(run).await?;
        let mut out = vec![Delivery {
            to: requester.address.clone(),
            reply: Reply::text(format!(
                "{} approved your request to run \"{}\".",
                decider.name, command.pretty_name
            )),
        }];
        out.extend(replies.into_iter().map(|reply| Delivery {
            to: requester.address.clone(),
            reply,
        }));
        let summary = format!(
            "Approved. Ran \"{}\" for {}: {} ({} ms).",
            command.pretty_name,
            requester.name,
            outcome.status.label(),
            outcome.duration.as_millis()
        );
        out.push(self.note_to(&decider.address, summary));
        Ok(out)
    }

    /// Run a handler, audit it, and word the result; moves the user on when
    /// the handler fires an event. Returns the replies and the outcome.
    async fn run(&self, run: Run<'_>) -> anyhow::Result<(Vec<Reply>, Outcome)> {
        let roles: Vec<&Role> = run
            .authority
            .roles
            .iter()
            .filter_map(|h| self.config.roles.get(&h.role))
            .collect();
        let limits = Limits::effective(&run.command.limits, &roles);
        let capabilities =
            Capabilities::effective(&run.command.needs, &roles, &|name| std::env::var(name).ok());
        let invocation = Invocation {
            command: run.command.id.clone(),
            input: run.input.to_string(),
            user: RunUser {
                address: run.user.address.clone(),
                channel: channel_of(&run.user.address).to_string(),
                id: run.user.principal.user.clone(),
                name: run.user.name.clone(),
            },
            state: run.state.id.clone(),
            limits,
            capabilities,
            scratch: None,
        };
        let started = store::now();
        let clock = Instant::now();
        let outcome = self.runner.run(run.command, &invocation).await;
        tracing::info!(
            command = %run.command.id,
            user = %run.user.address,
            outcome = outcome.status.label(),
            ms = clock.elapsed().as_millis() as u64,
            "handler ran"
        );
        self.audit_run(&run, &outcome, started)?;
        let engine = Engine::new(&self.config);
        let (replies, next) = engine.after_run(
            &run.user.principal,
            run.state,
            run.command,
            &outcome,
            &limits,
        );
        if let Some(next) = next {
            self.move_after_run(&run, &next)?;
        }
        Ok((replies, outcome))
    }

    /// Follow a handler's event, unless the user has moved on meanwhile.
    fn move_after_run(&self, run: &Run<'_>, next: &str) -> anyhow::Result<()> {
        let now = self.current_state(&run.user.address);
        if now == run.state.id {
            self.store.set_conversation_state(&run.user.address, next)?;
        }
        Ok(())
    }

    /// Append the audit row of a handler run.
    fn audit_run(
        &self,
        run: &Run<'_>,
        outcome: &Outcome,
        at: store::Timestamp,
    ) -> anyhow::Result<()> {
        let exit_code = match outcome.status {
            crate::handler::Status::Exit(code) => Some(code),
            crate::handler::Status::Success => Some(0),
            _ => None,
        };
        let record = AuditRecord {
            at,
            user: run.user.address.clone(),
            command: run.command.id.clone(),
            approver: run.approval.and(run.authority.user.clone()),
            approval: run.approval.map(|a| a.id.clone()),
            input: run.input.to_string(),
            outcome: outcome.status.label().to_string(),
            exit_code,
            duration_ms: outcome.duration.as_millis() as i64,
            fuel_used: outcome.fuel_used,
            peak_memory: outcome.peak_memory,
        };
        self.store
            .record_audit(&record)
            .context("failed to record audit row")?;
        Ok(())
    }

    /// Append the audit row of a denial.
    fn audit_denial(&self, request: &Approval, decider: &Sender) -> anyhow::Result<()> {
        let record = AuditRecord {
            at: store::now(),
            user: request.requester.clone(),
            command: request.command.clone(),
            approver: decider.principal.user.clone(),
            approval: Some(request.id.clone()),
            input: request.input.clone(),
            outcome: "denied".into(),
            ..AuditRecord::default()
        };
        self.store
            .record_audit(&record)
            .context("failed to record audit row")?;
        Ok(())
    }

    /// Who an address is.
    fn sender(&self, address: &str) -> anyhow::Result<Sender> {
        let user = self.identify(address)?;
        let principal = Principal::resolve(&self.config, user.as_deref());
        let name = match user.as_deref().and_then(|u| self.config.users.get(u)) {
            Some(u) => u.name.clone(),
            None => format!("Guest {}", short(local_id(address))),
        };
        Ok(Sender {
            address: address.to_string(),
            principal,
            name,
        })
    }

    /// The configured user an address stands for, if any.
    fn identify(&self, address: &str) -> anyhow::Result<Option<String>> {
        if let Some(user) = self.store.bound_user(address)? {
            return Ok(Some(user));
        }
        let local = local_id(address);
        if ID_CHANNELS.contains(&channel_of(address)) && self.config.users.contains_key(local) {
            return Ok(Some(local.to_string()));
        }
        Ok(self
            .config
            .users
            .contains_key(address)
            .then(|| address.to_string()))
    }

    /// Where a configured user can be reached.
    fn addresses_of(&self, user: &str) -> anyhow::Result<Vec<String>> {
        let mut addresses = vec![if user.contains(':') {
            user.to_string()
        } else {
            format!("messenger:{user}")
        }];
        for bound in self.store.bound_addresses(user)? {
            if !addresses.contains(&bound) {
                addresses.push(bound);
            }
        }
        Ok(addresses)
    }

    /// A short note to `address`, with the buttons of the state it is in,
    /// so the conversation can go on from there.
    fn note_to(&self, address: &str, text: String) -> Delivery {
        let buttons = self.current_reply(address).buttons;
        Delivery {
            to: address.to_string(),
            reply: Reply {
                text,
                output: None,
                buttons,
            },
        }
    }

    /// A configured user's display name, or the id itself.
    fn name_of(&self, user: &str) -> String {
        self.config
            .users
            .get(user)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| user.to_string())
    }

    /// The stored state of an address, logging store errors.
    fn stored_state(&self, address: &str) -> Option<String> {
        self.store.conversation_state(address).unwrap_or_else(|e| {
            tracing::error!(%address, error = %e, "failed to read conversation state");
            None
        })
    }
}

/// A short form of an id, to tell guests apart in messages: long ids
/// (page-scoped ids, random web ids) by their last four characters.
fn short(id: &str) -> String {
    if id.chars().count() <= 8 {
        return id.to_string();
    }
    let start = id.char_indices().rev().nth(3).map(|(i, _)| i).unwrap_or(0);
    format!("…{}", &id[start..])
}

/// A word for a step, for logs.
fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Move { .. } => "move",
        Step::Stay { .. } => "stay",
        Step::Run { .. } => "run",
        Step::Ask { .. } => "ask",
    }
}
