//! The protocol handler: what the server announces at `initialize`, and
//! tools and resources routed to [`super::tools`] and [`super::resources`].

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::daemon::Daemon;
use super::{resources, tools};

/// The server: the daemon it bridges to and the namespace it serves.
#[derive(Clone)]
pub struct MemdMcp {
    daemon: Arc<Daemon>,
    namespace: String,
}

impl MemdMcp {
    pub fn new(daemon: Daemon, namespace: String) -> MemdMcp {
        MemdMcp {
            daemon: Arc::new(daemon),
            namespace,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl ServerHandler for MemdMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("memd", env!("CARGO_PKG_VERSION"))
                    .with_title("memd long-term memory"),
            )
            .with_instructions(format!(
                "Long-term memory (namespace `{ns}`, daemon at {socket}). Before answering, call \
                 `context` (or `recall`) with the user's message; after an exchange worth \
                 keeping, call `remember` once per turn with a stable session_id. A lasting \
                 fact the user states (who they are, what they prefer, their setup) goes to \
                 `fact_add`; when one changes, pass the old fact's id as `supersedes`. Resources \
                 memd://profile, memd://narrative, memd://self and memd://eras hold what the \
                 dream cycle consolidated.",
                ns = self.namespace,
                socket = self.daemon.socket().display(),
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let outcome = tools::call(&self.daemon, &self.namespace, &request.name, args).await;
        let result = match outcome {
            Ok(value) => {
                let mut r = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
                r.structured_content = Some(value);
                r
            }
            Err(e) => {
                tracing::debug!(tool = %request.name, code = e.code(), "tool failed: {e}");
                e.into_tool_result()
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        match resources::read(&self.daemon, &self.namespace, &request.uri).await {
            Ok(contents) => Ok(ReadResourceResult::new(vec![contents]).into()),
            Err(e) => Err(e.into_mcp_error()),
        }
    }
}
