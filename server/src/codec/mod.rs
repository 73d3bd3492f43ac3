//! Codecs shared by several wires. Each lives once and is called by every route that speaks it; a
//! codec knows its API's shapes and nothing of routes or of other codecs' wires.

pub mod aws;
pub mod chat_completions;
pub mod embedding;
pub mod openai_error;
