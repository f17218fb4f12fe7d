//! CSV per RFC 4180 (CRLF line ends, fields with `,` `"` CR or LF quoted, quotes doubled), plus
//! formula-injection escaping: a cell that starts with `=` `+` `-` `@` TAB CR or NUL gets a
//! leading `'` so a spreadsheet shows it as text instead of evaluating it (OWASP ASVS 1.2.10).
//! CSV is a presentation format: the escaping changes bytes, so a CSV export cannot be verified.

/// Escape one cell.
pub fn cell(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\0') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// One record, CRLF-terminated.
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_get_a_leading_quote() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(cell("=1+2"), "'=1+2");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\0x"), "'\0x");
        assert_eq!(cell("\rx"), "\"'\rx\"");
        assert_eq!(cell("a=b"), "a=b");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn quotes_only_what_rfc_4180_requires() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(
            record(["a", "b,c", "{\"k\":1}"]),
            "a,\"b,c\",\"{\"\"k\"\":1}\"\r\n"
        );
    }
}
