//! The POP3 server against real clients (Python's poplib, curl, a line-level client) over
//! loopback TCP and TLS, on a provider with a SQLite store and real PEC messages.

mod curl;
mod poplib;
mod protocol_mode;
mod refusals;
mod support;
mod wire_format;
