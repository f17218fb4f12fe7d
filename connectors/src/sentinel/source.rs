//! Sentinel source rules: the Azure clouds and the ARM names (subscription GUID, resource group,
//! workspace) that make up a workspace's identity (see [`crate::SourceId`]).

use crate::SettingsError;

/// The Azure clouds a Sentinel workspace can live in.
pub const SENTINEL_CLOUDS: [&str; 3] = ["public", "usgov", "china"];

pub(crate) fn sentinel_cloud(raw: &str) -> Result<String, SettingsError> {
    let cloud = raw.trim().to_ascii_lowercase();
    if SENTINEL_CLOUDS.contains(&cloud.as_str()) {
        Ok(cloud)
    } else {
        Err(SettingsError::new(
            "Sentinel cloud",
            raw,
            "expected one of public, usgov, china",
        ))
    }
}

/// A GUID as Azure prints it (hyphenated), with or without braces, any case; returned lowercase
/// without braces. Shared with the Sentinel settings.
pub(crate) fn parse_guid(field: &'static str, raw: &str) -> Result<String, SettingsError> {
    let trimmed = raw.trim();
    let guid = trimmed
        .strip_prefix('{')
        .and_then(|g| g.strip_suffix('}'))
        .unwrap_or(trimmed);
    let shape_ok = guid.len() == 36
        && guid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if shape_ok {
        Ok(guid.to_ascii_lowercase())
    } else {
        Err(SettingsError::new(
            field,
            raw,
            "expected a GUID like 00000000-0000-0000-0000-000000000000 (braces allowed)",
        ))
    }
}

/// ARM resource-group rules: 1 to 90 characters; letters and digits (Unicode allowed),
/// underscores, parentheses, hyphens and periods; no period at the end.
/// Returns the name trimmed, case kept (ARM compares case-insensitively; callers lowercase for
/// identity). Shared with the Sentinel settings.
pub(crate) fn resource_group_name(raw: &str) -> Result<&str, SettingsError> {
    let rg = raw.trim();
    let refuse = |why: &str| Err(SettingsError::new("Azure resource group", raw, why));
    let len = rg.chars().count();
    if !(1..=90).contains(&len) {
        return refuse("must be 1 to 90 characters");
    }
    if !rg
        .chars()
        .all(|c| c.is_alphanumeric() || "_()-.".contains(c))
    {
        return refuse(
            "may hold only letters, digits, underscores, parentheses, hyphens and periods",
        );
    }
    if rg.ends_with('.') {
        return refuse("must not end with a period");
    }
    Ok(rg)
}

/// Log Analytics workspace names as the SecurityInsights API accepts them:
/// `^[A-Za-z0-9][A-Za-z0-9-]+[A-Za-z0-9]$`, at most 90 characters.
/// Returns the name trimmed, case kept. Shared with the Sentinel settings.
pub(crate) fn workspace_name_of(raw: &str) -> Result<&str, SettingsError> {
    let name = raw.trim();
    let bytes = name.as_bytes();
    let ok = (3..=90).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(name)
    } else {
        Err(SettingsError::new(
            "Log Analytics workspace name",
            raw,
            "must be 3 to 90 ASCII letters, digits and hyphens, starting and ending with a letter or digit",
        ))
    }
}
