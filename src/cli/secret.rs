//! Reading a secret from `--secret-env`, `--secret-file` or `--secret-stdin`, straight into a
//! `SecretString`. Errors name the variable or file, never the content, and never echo a flag
//! value that may itself be the secret (an operator who typed the secret where its name goes).

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::args::SecretArgs;
use crate::error::{Error, Result};

/// No real credential is longer; a bigger input is a mistake (`/dev/zero`, a log file).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// How long a secret file (a FIFO, process substitution) may take to deliver its content;
/// `SELIQ_SECRET_FILE_TIMEOUT` (seconds, 1–600) overrides it.
const FILE_TIMEOUT: Duration = Duration::from_secs(10);
pub const FILE_TIMEOUT_ENV: &str = "SELIQ_SECRET_FILE_TIMEOUT";

fn file_timeout() -> Duration {
    std::env::var(FILE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=600).contains(s))
        .map_or(FILE_TIMEOUT, Duration::from_secs)
}

pub fn read(args: &SecretArgs) -> Result<SecretString> {
    let raw = if let Some(var) = &args.secret_env {
        from_env(var)?
    } else if let Some(path) = &args.secret_file {
        from_file(path)?
    } else {
        let mut s = Zeroizing::new(Vec::new());
        std::io::stdin()
            .take(MAX_SECRET_BYTES as u64 + 1)
            .read_to_end(&mut s)
            .map_err(|e| {
                Error::Invalid(format!("cannot read the secret from standard input: {e}"))
            })?;
        checked_text(s, "standard input")?
    };
    let trimmed = raw.trim_end_matches(['\r', '\n']);
    if trimmed.trim().is_empty() {
        return Err(Error::Invalid(
            "the secret is empty (or only whitespace)".to_owned(),
        ));
    }
    if trimmed.contains('\0') {
        return Err(Error::Invalid("the secret contains a NUL byte".to_owned()));
    }
    Ok(SecretString::from(trimmed))
}

/// A conventional variable name (`FALCON_SECRET`): safe to show in an error. Anything else might
/// be the secret itself and is not shown.
fn shows_as_name(var: &str) -> bool {
    !var.is_empty()
        && var.len() <= 64
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn from_env(var: &str) -> Result<Zeroizing<String>> {
    let shown = if shows_as_name(var) {
        format!("environment variable {var} (from --secret-env)")
    } else {
        "the environment variable named by --secret-env (name not shown: it does not look like a variable name, and may be the secret itself)".to_owned()
    };
    let value =
        std::env::var_os(var).ok_or_else(|| Error::Invalid(format!("{shown} is not set")))?;
    let bytes = Zeroizing::new(value.into_encoded_bytes());
    checked_text(bytes, &shown)
}

fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    // A path that names nothing may be the secret typed in the wrong place: do not echo it.
    let shown = match std::fs::symlink_metadata(path) {
        Ok(_) => format!("secret file {} (from --secret-file)", path.display()),
        Err(_) => {
            return Err(Error::Invalid(
                "the file named by --secret-file does not exist (its name is not shown, in case the secret itself was passed)".to_owned(),
            ));
        }
    };
    // Read on a helper thread: opening a FIFO without a writer blocks in the kernel, and a
    // command must not hang on it forever.
    let (tx, rx) = mpsc::channel();
    let owned = path.to_owned();
    std::thread::spawn(move || {
        let read = (|| {
            let f = std::fs::File::open(&owned)?;
            let mut buf = Zeroizing::new(Vec::new());
            f.take(MAX_SECRET_BYTES as u64 + 1).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })();
        let _ = tx.send(read);
    });
    let timeout = file_timeout();
    let bytes = match rx.recv_timeout(timeout) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(Error::Invalid(format!("cannot read {shown}: {e}"))),
        Err(_) => {
            return Err(Error::Invalid(format!(
                "cannot read {shown}: nothing arrived within {}s (a FIFO with no writer?)",
                timeout.as_secs()
            )));
        }
    };
    checked_text(bytes, &shown)
}

fn checked_text(bytes: Zeroizing<Vec<u8>>, shown: &str) -> Result<Zeroizing<String>> {
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(Error::Invalid(format!(
            "{shown} holds more than {} KiB; no credential is that long",
            MAX_SECRET_BYTES / 1024
        )));
    }
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(Error::Invalid(format!("{shown} is not UTF-8 text"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conventional_variable_names_are_shown() {
        assert!(shows_as_name("FALCON_SECRET"));
        assert!(shows_as_name("SPLUNK_TOKEN_2"));
        for secret_like in ["s3cr3tValue", "abcDEF123", "eyJhbGciOi.x.y", "1ABC", ""] {
            assert!(!shows_as_name(secret_like), "{secret_like}");
        }
    }

    #[test]
    fn oversized_and_non_utf8_input_is_refused_without_echo() {
        let big = Zeroizing::new(vec![b'a'; MAX_SECRET_BYTES + 1]);
        let e = checked_text(big, "secret file x").unwrap_err().to_string();
        assert!(e.contains("64 KiB"), "{e}");
        let bad = Zeroizing::new(vec![0xff, 0xfe]);
        assert!(checked_text(bad, "x").is_err());
    }
}
