//! Kind flags → the vendor's unvalidated `Params`. Validation itself lives in the connectors.

use std::time::Duration;

use seliq_connectors::{Params, crowdstrike, sentinel, splunk};

use super::args::{KindArg, KindArgs};
use crate::error::{Error, Result};
use crate::timespec::parse_span;

fn required(kind: &str, flag: &str, v: &Option<String>) -> Result<String> {
    v.clone()
        .ok_or_else(|| Error::Invalid(format!("--kind {kind} needs --{flag}")))
}

pub fn build(kind: KindArg, a: &KindArgs) -> Result<Params> {
    let look_back: Option<Duration> = a
        .look_back
        .as_deref()
        .map(|s| parse_span("--look-back", s))
        .transpose()?;
    Ok(match kind {
        KindArg::Crowdstrike => Params::Crowdstrike(crowdstrike::Params {
            client_id: required("crowdstrike", "client-id", &a.client_id)?,
            cid: required("crowdstrike", "cid", &a.cid)?,
            cloud: a.cloud.clone(),
            base_url: a.base_url.clone(),
            own_cid: a.own_cid,
            allow_insecure_http: a.allow_insecure_http,
            look_back,
            rate_limit_per_minute: a.rate_limit,
        }),
        KindArg::Sentinel => Params::Sentinel(sentinel::Params {
            tenant_id: required("sentinel", "tenant-id", &a.tenant_id)?,
            client_id: required("sentinel", "client-id", &a.client_id)?,
            subscription_id: required("sentinel", "subscription-id", &a.subscription_id)?,
            resource_group: required("sentinel", "resource-group", &a.resource_group)?,
            workspace_name: required("sentinel", "workspace-name", &a.workspace_name)?,
            cloud: a.cloud.clone(),
            authority_url: a.authority_url.clone(),
            management_url: a.management_url.clone(),
            api_version: a.api_version.clone(),
            look_back,
            with_alerts: a.with_alerts,
            allow_insecure_http: a.allow_insecure_http,
            rate_limit_per_minute: a.rate_limit,
        }),
        KindArg::Splunk => {
            if a.index.is_empty() {
                return Err(Error::Invalid(
                    "--kind splunk needs --index IDX[,IDX...]".to_owned(),
                ));
            }
            Params::Splunk(splunk::Params {
                url: required("splunk", "url", &a.url)?,
                app: required("splunk", "app", &a.app)?,
                owner: a.owner.clone(),
                indexes: a.index.clone(),
                scope_filter: a.scope_filter.clone(),
                username: a.username.clone(),
                base_search: a.base_search.clone(),
                earliest: a.earliest.clone(),
                allow_insecure_http: a.allow_insecure_http,
                rate_limit_per_minute: a.rate_limit,
                look_back,
            })
        }
    })
}
