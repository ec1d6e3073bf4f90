//! The function's errors, each mapped to a Lambda `errorType` that tells a bad event from an AWS
//! fault from a refusal.

use lambda_runtime::Diagnostic;

use crate::trigger::ParseError;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The payload is not an event the function can read; nothing was changed.
    #[error(transparent)]
    BadEvent(#[from] ParseError),
    /// An EC2 call failed after the SDK's retries.
    #[error("EC2 {operation} failed with {code}: {message}")]
    Aws {
        /// The EC2 operation, e.g. `AssociateAddress`.
        operation: &'static str,
        /// EC2's error code, e.g. `IncorrectInstanceState`, or `none` for a transport failure.
        code: String,
        /// What the SDK said.
        message: String,
    },
    /// The function will not act; the world needs a person (the reason says why).
    #[error("failover refused: {0}")]
    Refused(String),
}

impl Error {
    /// The Lambda `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadEvent(_) => "BadEvent",
            Error::Aws { .. } => "AwsError",
            Error::Refused(_) => "FailoverRefused",
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Self {
        Diagnostic { error_type: error.error_type().to_owned(), error_message: error.to_string() }
    }
}
