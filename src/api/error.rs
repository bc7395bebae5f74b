//! The only place where errors become HTTP statuses and
//! `{"error":{"code","message"}}` bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::dream::DreamError;
use crate::ingest::IngestError;
use crate::recall::RecallError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn bad_field(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_field", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "namespace_mismatch", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::wire::BodyError> for ApiError {
    fn from(e: crate::wire::BodyError) -> Self {
        match e {
            crate::wire::BodyError::Malformed(m) => ApiError::malformed(m),
            crate::wire::BodyError::BadField(m) => ApiError::bad_field(m),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => ApiError::invalid(m),
            IngestError::Conflict(m) => ApiError::conflict(m),
            IngestError::Rejected(r) => r.into(),
            IngestError::Store(e) => e.into(),
            IngestError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<crate::screen::Rejected> for ApiError {
    fn from(r: crate::screen::Rejected) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "firewall_rejected",
            r.to_string(),
        )
    }
}

impl From<crate::learn::FactError> for ApiError {
    fn from(e: crate::learn::FactError) -> Self {
        use crate::learn::FactError;
        match e {
            FactError::Invalid(m) => ApiError::invalid(m),
            FactError::NotFound(m) => ApiError::not_found(m),
            FactError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "fact_state", m),
            FactError::Rejected(r) => r.into(),
            FactError::Store(e) => e.into(),
            FactError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<DreamError> for ApiError {
    fn from(e: DreamError) -> Self {
        match e {
            DreamError::Store(s) => s.into(),
            DreamError::Busy(what) => ApiError::new(
                StatusCode::CONFLICT,
                "dream_running",
                format!("a dream pass is already running: {what}"),
            ),
            DreamError::Stopping => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "the daemon is shutting down",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull(_) => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string())
            }
            StoreError::ReadOnly(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "read_only", e.to_string())
            }
            StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                e.to_string(),
            ),
            StoreError::Io { ref source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                    ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string())
                }
                Some(libc::EROFS) => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "read_only", e.to_string())
                }
                Some(libc::EIO) | Some(libc::EPERM) | Some(libc::EACCES) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    e.to_string(),
                ),
                _ => ApiError::internal(e.to_string()),
            },
            StoreError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<RecallError> for ApiError {
    fn from(e: RecallError) -> Self {
        match e {
            RecallError::Store(s) => s.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<crate::sources::SourceError> for ApiError {
    fn from(e: crate::sources::SourceError) -> Self {
        use crate::sources::SourceError;
        match e {
            SourceError::Store(s) => s.into(),
            SourceError::NotFound(m) => ApiError::not_found(m),
            SourceError::Refused(m) => ApiError::new(StatusCode::BAD_REQUEST, "refused", m),
            e @ SourceError::Config { .. } => {
                ApiError::new(StatusCode::CONFLICT, "source_config", e.to_string())
            }
            SourceError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "source_unavailable", m)
            }
        }
    }
}

impl From<crate::checkpoint::CheckpointError> for ApiError {
    fn from(e: crate::checkpoint::CheckpointError) -> Self {
        use crate::checkpoint::CheckpointError;
        match e {
            CheckpointError::Store(s) => s.into(),
            CheckpointError::Io { path, source } => StoreError::Io { path, source }.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}
