//! PLACEHOLDER: `demo` — being written.

use std::path::PathBuf;

use crate::error::{Error, Result};

pub fn run(dir: Option<PathBuf>) -> Result<u8> {
    let _ = dir;
    Err(Error::Runtime("demo is not built yet".to_owned()))
}
