//! One error type; each message is one sentence naming the bad value (cut to 64 characters).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlaError {
    #[error("{0}")]
    Invalid(String),
    /// A due time that cannot be computed (no opening within ten years, out of range).
    #[error("{0}")]
    Unreachable(String),
}

/// `text` quoted and cut to 64 characters on a character boundary: user input echoed back.
pub(crate) fn quote(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> SlaError {
    SlaError::Invalid(msg.into())
}
