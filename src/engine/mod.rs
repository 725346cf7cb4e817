//! The conversation engine: one message in, the decision out. Pure.
