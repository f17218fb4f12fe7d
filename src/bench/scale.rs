//! Scale: W workspaces × 3 integrations pulled concurrently in one process.

use serde_json::Value;

use super::BenchArgs;
use crate::error::{Error, Result};

pub fn run(_args: &BenchArgs) -> Result<Value> {
    Err(Error::Runtime("the scale part is not built yet".to_owned()))
}
