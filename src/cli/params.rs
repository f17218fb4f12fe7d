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

/// Flags that belong to one kind only, with whether each was given. A flag given with another
/// `--kind` is an error naming it, never silently dropped.
fn foreign_flags(kind: KindArg, a: &KindArgs) -> Vec<&'static str> {
    let crowdstrike = [
        ("--cid", a.cid.is_some()),
        ("--own-cid", a.own_cid),
        ("--base-url", a.base_url.is_some()),
    ];
    let sentinel = [
        ("--tenant-id", a.tenant_id.is_some()),
        ("--subscription-id", a.subscription_id.is_some()),
        ("--resource-group", a.resource_group.is_some()),
        ("--workspace-name", a.workspace_name.is_some()),
        ("--authority-url", a.authority_url.is_some()),
        ("--management-url", a.management_url.is_some()),
        ("--api-version", a.api_version.is_some()),
        ("--with-alerts", a.with_alerts),
    ];
    let splunk = [
        ("--url", a.url.is_some()),
        ("--app", a.app.is_some()),
        ("--owner", a.owner.is_some()),
        ("--index", !a.index.is_empty()),
        ("--scope-filter", a.scope_filter.is_some()),
        ("--username", a.username.is_some()),
        ("--base-search", a.base_search.is_some()),
        ("--earliest", a.earliest.is_some()),
    ];
    let not_splunk = [
        ("--client-id", a.client_id.is_some()),
        ("--cloud", a.cloud.is_some()),
    ];
    let mut foreign: Vec<(&'static str, bool)> = Vec::new();
    match kind {
        KindArg::Crowdstrike => {
            foreign.extend(sentinel);
            foreign.extend(splunk);
        }
        KindArg::Sentinel => {
            foreign.extend(crowdstrike);
            foreign.extend(splunk);
        }
        KindArg::Splunk => {
            foreign.extend(crowdstrike);
            foreign.extend(sentinel);
            foreign.extend(not_splunk);
        }
    }
    foreign
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
}

pub fn build(kind: KindArg, a: &KindArgs) -> Result<Params> {
    let foreign = foreign_flags(kind, a);
    if !foreign.is_empty() {
        let kind_name = match kind {
            KindArg::Crowdstrike => "crowdstrike",
            KindArg::Sentinel => "sentinel",
            KindArg::Splunk => "splunk",
        };
        return Err(Error::Invalid(format!(
            "{} do{} not apply to --kind {kind_name}",
            foreign.join(", "),
            if foreign.len() == 1 { "es" } else { "" }
        )));
    }
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
