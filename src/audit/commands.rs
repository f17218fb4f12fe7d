//! PLACEHOLDER: `audit export|verify|prune` — being written.

use crate::app::App;
use crate::cli::args::AuditCmd;
use crate::error::{Error, Result};

pub fn run(app: &mut App, cmd: AuditCmd) -> Result<u8> {
    let _ = (app, cmd);
    Err(Error::Runtime("audit commands are not built yet".to_owned()))
}
