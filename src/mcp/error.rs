//! What a failed call tells the model. A tool's failure is a tool result
//! with `isError` (the model reads it and can act: fix an argument, run the
//! dream cycle, tell the user to start the daemon); a resource's failure is
//! a JSON-RPC error, the only failure `resources/read` has. Either way the
//! text is `code: message` with the daemon's own code where it gave one.

use std::path::PathBuf;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The daemon answered `{error: {code, message}}` (any non-2xx).
    #[error("{message}")]
    Api { code: String, message: String },
    /// No daemon on the socket, or it refused us or broke the connection.
    #[error("{0}")]
    Unreachable(String),
    #[error(
        "memd at {} did not answer within {} s (a stuck or overloaded daemon; \
         `memd ctl status` shows its state)", socket.display(), after.as_secs_f64()
    )]
    Timeout { socket: PathBuf, after: Duration },
    /// The tool's arguments do not fit its schema, or the request is outside
    /// this server's namespace.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{0}")]
    Internal(String),
}

impl DaemonError {
    /// Reads a non-2xx answer; a body without the usual shape keeps its
    /// text as the message.
    pub fn from_answer(answer: &Value) -> DaemonError {
        let detail = &answer["error"];
        let code = detail["code"].as_str().unwrap_or("error").to_owned();
        let message = match detail["message"].as_str() {
            Some(m) => m.to_owned(),
            None => answer.to_string(),
        };
        DaemonError::Api { code, message }
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> DaemonError {
        DaemonError::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            DaemonError::Api { code, .. } => code,
            DaemonError::Unreachable(_) => "daemon_unreachable",
            DaemonError::Timeout { .. } => "daemon_timeout",
            DaemonError::Refused { code, .. } => code,
            DaemonError::Internal(_) => "internal",
        }
    }

    fn as_json(&self) -> Value {
        json!({"error": {"code": self.code(), "message": self.to_string()}})
    }

    /// The failure as the tool's result: text for the model, the same as
    /// structured content for programs.
    pub fn into_tool_result(self) -> CallToolResult {
        let mut result =
            CallToolResult::error(vec![ContentBlock::text(format!("{}: {self}", self.code()))]);
        result.structured_content = Some(self.as_json());
        result
    }

    /// The failure of a resource read.
    pub fn into_mcp_error(self) -> ErrorData {
        let text = format!("{}: {self}", self.code());
        let data = Some(self.as_json());
        match &self {
            DaemonError::Api { code, .. } if code == "not_found" => {
                ErrorData::resource_not_found(text, data)
            }
            DaemonError::Refused { .. } => ErrorData::resource_not_found(text, data),
            DaemonError::Api { code, .. } if code == "bad_field" || code == "invalid_value" => {
                ErrorData::invalid_params(text, data)
            }
            _ => ErrorData::internal_error(text, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_code_and_message_reach_the_model() {
        let e = DaemonError::from_answer(
            &json!({"error": {"code": "namespace_mismatch", "message": "session `s` is in `a`"}}),
        );
        let r = e.into_tool_result();
        assert_eq!(r.is_error, Some(true));
        let text = serde_json::to_value(&r.content[0]).unwrap()["text"].clone();
        assert_eq!(text, "namespace_mismatch: session `s` is in `a`");
        assert_eq!(
            r.structured_content.unwrap()["error"]["code"],
            "namespace_mismatch"
        );
    }

    #[test]
    fn an_answer_without_the_error_shape_keeps_its_text() {
        let e = DaemonError::from_answer(&json!({"oops": 1}));
        assert_eq!(e.code(), "error");
        assert!(e.to_string().contains("oops"));
    }

    #[test]
    fn a_missing_tier_is_a_missing_resource() {
        let e = DaemonError::from_answer(
            &json!({"error": {"code": "not_found", "message": "no profile yet"}}),
        );
        assert_eq!(e.into_mcp_error().code.0, -32002);
    }
}
