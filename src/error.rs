//! The one error shape that crosses into JS: `{ kind, code, message }`.
//! `kind` decides the exit code in the shim (usage → 2, runtime → 1).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input or a policy refusal: exit 2, nothing written.
    Usage,
    /// Something went wrong while doing valid work: exit 1.
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
}

impl CoreError {
    pub fn usage(code: &'static str, message: impl Into<String>) -> Self {
        CoreError { kind: ErrorKind::Usage, code, message: message.into() }
    }
    pub fn runtime(code: &'static str, message: impl Into<String>) -> Self {
        CoreError { kind: ErrorKind::Runtime, code, message: message.into() }
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
