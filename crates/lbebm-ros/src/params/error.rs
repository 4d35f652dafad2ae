//! The one error type of command lines, parameter files and parameter values.

/// A bad command line, parameter file or parameter value.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// The command line could not be parsed.
    #[error("command line: {0}")]
    Args(String),
    /// A parameter file could not be read or parsed.
    #[error("{file}: {msg}")]
    File {
        /// The file (as given).
        file: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A parameter value has the wrong type or is out of range.
    #[error("parameter {name}: {msg}")]
    Value {
        /// The parameter (or, for an unparsable `-p` value, the text).
        name: String,
        /// What is wrong with the value.
        msg: String,
    },
}

/// A [`ParamError::Args`].
pub(crate) fn arg_err(msg: impl Into<String>) -> ParamError {
    ParamError::Args(msg.into())
}

/// A [`ParamError::Value`].
pub(crate) fn value_err(name: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Value {
        name: name.to_string(),
        msg: msg.into(),
    }
}
