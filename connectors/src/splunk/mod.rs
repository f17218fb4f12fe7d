//! Splunk connector (one search scope per integration). Work in progress.

mod cursor;
mod mapping;
mod settings;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::http::HttpOptions;
use crate::{Batch, Budget, Connector, ConnectorError, Cursor, SourceId};

pub use mapping::{IdMode, MappedRow, VENDOR, map_result, map_row};
pub use settings::{AuthMode, DEFAULT_EARLIEST, DEFAULT_OWNER, DEFAULT_PORT, Params, Settings};

pub struct Splunk {}

impl Splunk {
    pub fn new(settings: Settings, secret: SecretString, http: &HttpOptions) -> Result<Self, ConnectorError> {
        let _ = (settings, secret, http, cursor::State::start(0));
        todo!()
    }
}

#[async_trait]
impl Connector for Splunk {
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
