//! Reading a secret from `--secret-env`, `--secret-file` or `--secret-stdin`, straight into a
//! `SecretString`. Errors name the variable or file, never the content.

use std::io::Read;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::args::SecretArgs;
use crate::error::{Error, Result};

pub fn read(args: &SecretArgs) -> Result<SecretString> {
    let raw = if let Some(var) = &args.secret_env {
        Zeroizing::new(std::env::var(var).map_err(|_| {
            Error::Invalid(format!(
                "environment variable {var} (from --secret-env) is not set or not UTF-8"
            ))
        })?)
    } else if let Some(path) = &args.secret_file {
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::Invalid(format!(
                "cannot read secret file {} (from --secret-file): {e}",
                path.display()
            ))
        })?)
    } else {
        let mut s = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Error::Invalid(format!("cannot read the secret from standard input: {e}"))
        })?;
        s
    };
    let trimmed = raw.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(Error::Invalid("the secret is empty".to_owned()));
    }
    Ok(SecretString::from(trimmed))
}
