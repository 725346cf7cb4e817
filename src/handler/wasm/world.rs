//! Host bindings for our own component world, `sandbot:handler/handler`
//! (see `wit/handler.wit`).
//!
//! A component of this world exports `handle(request) -> result<reply,
//! string>`. The reply's text becomes the run's output (capped like
//! stdout), its event becomes [`Outcome::event`](crate::handler::Outcome),
//! and an error string becomes
//! [`Status::HandlerError`](crate::handler::Status).

use crate::handler::Invocation;

wasmtime::component::bindgen!({
    path: "wit",
    world: "handler",
    exports: { default: async },
});

use self::sandbot::handler::types::User;

/// The request a component sees for one invocation.
pub(super) fn request(inv: &Invocation) -> Request {
    Request {
        input: inv.input.clone(),
        user: User {
            id: inv.user.id.clone(),
            name: inv.user.name.clone(),
            channel: inv.user.channel.clone(),
        },
        state: inv.state.clone(),
        command: inv.command.clone(),
    }
}
