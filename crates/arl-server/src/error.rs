//! [`ApiError`]: every failure of a request, as one HTTP status and one JSON shape:
//! `{"error": "...", "rule": "...", "line": N, "fix": "..."}` (`line` and `fix` when known).

use arl_privacy::PrivacyError;
use arl_query::privacy::{EraseError, SealError};
use arl_query::{ErrorClass, QueryError};
use arl_views::{AppendFailure, FailureKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// What went wrong, in words (the command line's message where it has one).
    pub error: String,
    /// A short machine-readable name of the rule or limit broken.
    pub rule: String,
    /// The input line at fault (1-based), for appends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl ApiError {
    /// A failure with `status`, `rule` and message.
    pub fn new(status: StatusCode, rule: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            rule: rule.to_string(),
            line: None,
            fix: None,
        }
    }

    /// The same, with what to do.
    pub fn with_fix(mut self, fix: impl Into<String>) -> ApiError {
        self.fix = Some(fix.into());
        self
    }

    /// A malformed request (400).
    pub fn bad_request(rule: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rule, error)
    }

    /// A server-side failure (500); the message names what failed.
    pub fn internal(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error)
    }

    /// The writer thread is gone (the server is stopping or failed).
    pub fn writer_gone() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "writer_stopped",
            "the ledger's writer has stopped (the server is shutting down); retry against a running server",
        )
    }

    /// An error of the evidence store: 400 a question without evidence, 409 no signing
    /// key or views behind the log, 404 no such subject, 500 integrity or storage.
    pub fn evidence(e: &arl_query::evidence::EvidenceError) -> ApiError {
        use arl_query::evidence::EvidenceError as E;
        let (status, rule) = match e {
            E::Usage(_) => (StatusCode::BAD_REQUEST, "usage"),
            E::Refused(_) => (StatusCode::CONFLICT, "evidence_unavailable"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            E::Integrity(_) => (StatusCode::INTERNAL_SERVER_ERROR, "integrity"),
            E::Log(arl_log::LogError::Integrity { .. } | arl_log::LogError::Corrupt { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "integrity")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        ApiError::new(status, rule, e.to_string())
    }

    /// A query's error: not found 404, usage 400, integrity 500 (the ledger fails
    /// verification), storage 500.
    pub fn query(e: &QueryError) -> ApiError {
        let (status, rule) = match e.class() {
            ErrorClass::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorClass::Usage => (StatusCode::BAD_REQUEST, "usage"),
            ErrorClass::Integrity => (StatusCode::INTERNAL_SERVER_ERROR, "integrity"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        ApiError::new(status, rule, e.to_string())
    }

    /// An append's failure at input line `line` (the line of its event, when one is at
    /// fault): the message and the fix come from the failure's parts, as the command line's.
    pub fn append(f: &AppendFailure, line: Option<u64>) -> ApiError {
        let status = match f.kind {
            FailureKind::Rule | FailureKind::ImportedTime => StatusCode::UNPROCESSABLE_ENTITY,
            FailureKind::StaleVersion | FailureKind::IdConflict => StatusCode::CONFLICT,
            FailureKind::Invalid => StatusCode::BAD_REQUEST,
            FailureKind::BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FailureKind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let fix = match f.kind {
            FailureKind::Storage => "the batch may or may not be stored: read the head (GET /v1/digest) and retry with the same ids (appends are idempotent by id)",
            FailureKind::StaleVersion => "read the stream's current version and retry with it, or drop expected_version",
            _ => f.fix().unwrap_or("correct the line; nothing was appended: the whole request is one batch"),
        };
        ApiError {
            status,
            error: f.at_line(line),
            rule: f.kind.as_str().to_string(),
            line,
            fix: Some(fix.to_string()),
        }
    }

    /// A batch that could not be sealed (`lines`: the input line of each event).
    pub fn seal(e: &SealError, lines: &[u64]) -> ApiError {
        let SealError::Event { index, error } = e else {
            return ApiError::internal(e.to_string());
        };
        let (status, rule, fix) = match error {
            PrivacyError::AuditOnly => (
                StatusCode::BAD_REQUEST,
                "audit_only",
                "erase with POST /v1/erase (admin) or arl erase",
            ),
            PrivacyError::Erased { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "erased",
                "use a new id for this subject",
            ),
            PrivacyError::Reserved { .. } => (
                StatusCode::BAD_REQUEST,
                "reserved",
                "give the name or title in clear",
            ),
            _ => return ApiError::internal(e.to_string()),
        };
        let line = lines.get(*index).copied();
        let error = match line {
            Some(line) => format!("line {line}: {error}"),
            None => error.to_string(),
        };
        ApiError {
            line,
            ..ApiError::new(status, rule, error).with_fix(fix)
        }
    }

    /// An erasure refused or failed.
    pub fn erase(e: &EraseError) -> ApiError {
        match e {
            EraseError::AlreadyErased { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_erased", e.to_string())
                    .with_fix("nothing to do: the subject's key is gone")
            }
            EraseError::Unknown { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
                    .with_fix("check the id (GET /v1/accounts/{id}/contacts, GET /v1/org)")
            }
            _ => ApiError::internal(e.to_string()),
        }
    }

    /// The JSON body (one line).
    pub fn body(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_else(|_| {
            "{\"error\":\"unprintable error\",\"rule\":\"internal\"}".to_string()
        });
        text.push('\n');
        text
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"arl\""),
            );
        }
        response
    }
}
