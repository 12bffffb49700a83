//! Errors: a server that cannot start ([`ServeError`]) and a request's answer ([`ApiError`],
//! TEI's `{"error", "error_type"}` with its status).

use std::path::PathBuf;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::timeout::TimeoutError;

/// Why a server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The BERT model or its tokenizer.
    #[error(transparent)]
    Bert(#[from] attn_transformer::BertError),
    /// A run of `attn train` (an RNN or a tagger) that does not load.
    #[error(transparent)]
    Run(#[from] attn_train::TrainError),
    /// A model this server cannot serve.
    #[error("{path}: {reason}")]
    Model {
        /// The model's directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The address to listen on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the connection loop.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// An input the model refuses, as the server answers it (4xx).
    #[error(transparent)]
    Input(#[from] ApiError),
}

/// The kinds of error a request gets, named as TEI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorType {
    /// The model failed on a batch.
    Backend,
    /// Too many inputs queued.
    Overloaded,
    /// The request is malformed or over a limit.
    Validation,
    /// A request without inputs.
    Empty,
    /// A missing or wrong API key.
    Unauthorized,
    /// A body over the payload limit.
    PayloadTooLarge,
    /// No answer, or no body, within the request timeout.
    Timeout,
    /// No such route.
    NotFound,
    /// A bug: a panic or a lost worker.
    Internal,
    /// The server is stopping.
    Unhealthy,
}

/// An error answer: its status and `{"error", "error_type"}` body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The kind.
    pub kind: ErrorType,
    /// What went wrong, naming the field or limit.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 422: a request that breaks a rule or a limit.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Validation,
            message,
        )
    }

    /// 424: a route the served model has no answer for, or a model that failed.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FAILED_DEPENDENCY, ErrorType::Backend, message)
    }

    /// 500: a bug.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Internal,
            message,
        )
    }

    /// 500 for a panic in `place`, with the panic's message.
    pub fn panicked(place: &str, panic: &(dyn std::any::Any + Send)) -> Self {
        let reason = (panic.downcast_ref::<String>().cloned())
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        Self::internal(format!("{place} panicked: {reason}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "error_type": self.kind});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(error) = cause {
            if error.is::<TimeoutError>() {
                return Self::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorType::Timeout,
                    "the request's body did not arrive within --request-timeout",
                );
            }
            cause = error.source();
        }
        let status = rejection.status();
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorType::PayloadTooLarge,
            _ => ErrorType::Validation,
        };
        Self::new(status, kind, rejection.body_text())
    }
}
