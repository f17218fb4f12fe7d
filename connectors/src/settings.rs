//! Validation helpers shared by the vendor settings types.

use url::Url;

use crate::SettingsError;

/// Parse a vendor base URL. https is required unless `allow_insecure_http` is set (the mocks need
/// it). The URL must have a host and no credentials, query or fragment.
pub fn parse_base_url(
    field: &'static str,
    raw: &str,
    allow_insecure_http: bool,
) -> Result<Url, SettingsError> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed)
        .map_err(|e| SettingsError::new(field, raw, format!("not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {}
        "http" => {
            return Err(SettingsError::new(
                field,
                raw,
                "plain http is refused; use https, or pass --allow-insecure-http for a local mock",
            ));
        }
        other => {
            return Err(SettingsError::new(
                field,
                raw,
                format!("scheme {other:?} is not http(s)"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SettingsError::new(field, raw, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Name the URL without its userinfo: the error is printed, the password must not be.
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(SettingsError::new(
            field,
            shown.as_str(),
            "credentials do not belong in a URL (pass them with --secret-env/--secret-file)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingsError::new(
            field,
            raw,
            "the URL must not carry a query or fragment",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_http_unless_allowed() {
        assert!(parse_base_url("base URL", "http://127.0.0.1:9", false).is_err());
        assert!(parse_base_url("base URL", "http://127.0.0.1:9", true).is_ok());
        assert!(parse_base_url("base URL", "https://api.crowdstrike.com", false).is_ok());
    }

    #[test]
    fn refuses_userinfo_query_and_other_schemes() {
        let err = parse_base_url("url", "https://u:hunter2@h.example", false).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_base_url("url", "https://h.example/?a=b", false).is_err());
        assert!(parse_base_url("url", "ftp://h.example", false).is_err());
        assert!(parse_base_url("url", "not a url", false).is_err());
    }
}
