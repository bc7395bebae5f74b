//! `[api]`: limits of the HTTP API.

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, between, ensure, first};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Largest request body accepted (bytes); larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest `content` of one exchange (bytes); larger ones get 422.
    pub max_content_bytes: usize,
    /// Largest `metadata` object of one exchange, serialised (bytes).
    pub max_metadata_bytes: usize,
    /// A request still running after this long is answered with 503.
    pub request_timeout_s: u64,
    /// Connections served at once; when all are taken, the one idle the
    /// longest is closed to make room, and only if every one has a request
    /// in flight do new clients wait in the accept queue.
    pub max_connections: usize,
    /// Connections one uid may hold at once (so one allowed uid cannot
    /// starve another); past it the uid's idlest connection is closed, or,
    /// if all are busy, the new one is answered 503.
    pub max_connections_per_uid: usize,
    /// A connection without a request in flight is closed this many seconds
    /// after it became idle (accepted, or its last response sent). Bounds
    /// slow request headers as well as idle keep-alive.
    pub idle_timeout_s: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_content_bytes: 256 * 1024,
            max_metadata_bytes: 64 * 1024,
            request_timeout_s: 30,
            max_connections: 256,
            max_connections_per_uid: 256,
            idle_timeout_s: 15,
        }
    }
}

impl ApiConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            at_least("api.max_body_bytes", self.max_body_bytes, 1024),
            ensure(
                "api.max_content_bytes",
                (1..=self.max_body_bytes).contains(&self.max_content_bytes),
                "must be between 1 and api.max_body_bytes",
            ),
            at_least("api.request_timeout_s", self.request_timeout_s, 1),
            at_least("api.max_connections", self.max_connections, 1),
            at_least(
                "api.max_connections_per_uid",
                self.max_connections_per_uid,
                1,
            ),
            between("api.idle_timeout_s", self.idle_timeout_s, 1, 3600),
        ])
    }
}
