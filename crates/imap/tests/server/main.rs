//! The IMAP server over real loopback TCP and TLS, with a real store and engine: raw sessions
//! whose every response imap-proto decodes, Python's imaplib as a real client, and hostile
//! input.

mod imaplib;
mod mailbox_rules;
mod robustness;
mod sessions;
mod support;
