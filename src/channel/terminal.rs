//! `sandbot chat`: a conversation in the terminal.
