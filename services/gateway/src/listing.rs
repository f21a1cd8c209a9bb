//! Whole lists read from the registry, which answers one page at a time: Connect's environment
//! list and the installations offered are answered in one piece.

use execenv_core::Caller;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;

use crate::error::ApiError;
use crate::registry::Registry;

/// Page size when the gateway reads the whole list from the registry.
const PAGE_SIZE: u32 = 1000;

/// Every environment `request` selects that `caller` may see, read page by page.
pub(crate) async fn every_environment(
    registry: &Registry,
    caller: &Caller,
    mut request: reg::ListEnvironmentsRequest,
) -> Result<Vec<pb::Environment>, ApiError> {
    request.page_size = PAGE_SIZE;
    let mut client = registry.environments(caller);
    let mut all = Vec::new();
    loop {
        let page = client
            .list_environments(request.clone())
            .await
            .map_err(|s| registry.failed(s))?
            .into_inner();
        all.extend(page.environments);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
}
