//! PLACEHOLDER: replaced by the crowdstrike connector work.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::http::HttpOptions;
use crate::{Batch, Budget, Connector, ConnectorError, Cursor, SettingsError, SourceId};

#[derive(Debug, Clone, Default)]
pub struct Params {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {}

impl Settings {
    pub fn validate(p: Params) -> Result<Settings, SettingsError> {
        todo!("{p:?}")
    }
    pub fn source_id(&self) -> SourceId {
        todo!()
    }
    pub fn with_client_id(&self, client_id: &str) -> Result<Settings, SettingsError> {
        todo!("{client_id}")
    }
}

pub struct CrowdStrike {}

impl CrowdStrike {
    pub fn new(settings: Settings, secret: SecretString, http: &HttpOptions) -> Result<Self, ConnectorError> {
        let _ = (settings, secret, http);
        todo!()
    }
}

#[async_trait]
impl Connector for CrowdStrike {
    fn source_id(&self) -> &SourceId {
        todo!()
    }
    async fn check(&self) -> Result<(), ConnectorError> {
        todo!()
    }
    async fn fetch(&self, cursor: Option<&Cursor>, budget: Budget) -> Result<Batch, ConnectorError> {
        let _ = (cursor, budget);
        todo!()
    }
    fn retries(&self) -> u64 {
        todo!()
    }
}
