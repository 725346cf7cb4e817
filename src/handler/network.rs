//! Outbound network rules for handlers.
