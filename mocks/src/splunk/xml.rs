//! The representations splunkd serves when a request does not ask for `output_mode=json`: Atom
//! XML feeds and entries whose `<content>` is an `s:dict` (namespace
//! `http://dev.splunk.com/ns/rest`), the `<response>` documents of `auth/login` and job creation,
//! the `<results>` document of results and export, CSV for `output_mode=csv`, and the
//! `<response><messages><msg type=…>` error envelope.
//!
//! Each is written from the same `serde_json` value the JSON form is built from, so both forms
//! carry the same fields and values. In an `s:dict`, objects are `<s:dict>` of
//! `<s:key name=…>`, arrays are `<s:list>` of `<s:item>`, booleans are `1`/`0` (splunkd's
//! spelling; splunk-sdk compares `isDone` with `"1"`), numbers their decimal text and `null` an
//! empty key.

use std::fmt::Write as _;

use serde_json::{Map, Value};

pub const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const ATOM_NS: &str = "xmlns=\"http://www.w3.org/2005/Atom\" xmlns:s=\"http://dev.splunk.com/ns/rest\" xmlns:opensearch=\"http://a9.com/-/spec/opensearch/1.1/\"";

/// `s` with `& < > " '` escaped, for text and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no encoding for most control characters; splunkd drops them too.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A scalar as splunkd writes it in XML (and CSV): booleans `1`/`0`.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => "0".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// The contents of an `<s:key>` (or `<s:item>`) holding `v`.
fn rest_value(v: &Value, out: &mut String, depth: usize) {
    match v {
        Value::Object(m) => {
            indent(out, depth);
            rest_dict(m, out, depth);
            indent(out, depth.saturating_sub(1));
        }
        Value::Array(items) => {
            indent(out, depth);
            if items.is_empty() {
                out.push_str("<s:list/>");
            } else {
                out.push_str("<s:list>");
                for item in items {
                    indent(out, depth + 1);
                    out.push_str("<s:item>");
                    rest_value(item, out, depth + 2);
                    out.push_str("</s:item>");
                }
                indent(out, depth);
                out.push_str("</s:list>");
            }
            indent(out, depth.saturating_sub(1));
        }
        scalar => out.push_str(&escape(&scalar_text(scalar))),
    }
}

/// `<s:dict>` of `m`.
pub fn rest_dict(m: &Map<String, Value>, out: &mut String, depth: usize) {
    if m.is_empty() {
        out.push_str("<s:dict/>");
        return;
    }
    out.push_str("<s:dict>");
    for (k, v) in m {
        indent(out, depth + 1);
        let _ = write!(out, "<s:key name=\"{}\">", escape(k));
        rest_value(v, out, depth + 2);
        out.push_str("</s:key>");
    }
    indent(out, depth);
    out.push_str("</s:dict>");
}

fn text_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// One `<entry>` of a JSON-form entry object (`name`, `id`, `updated`, `published`, `links`,
/// `author`, `acl`, `content`). `acl` goes into the content as `eai:acl`, where the Atom form
/// keeps it.
fn entry(e: &Value, out: &mut String, depth: usize, root: bool) {
    indent(out, depth);
    if root {
        let _ = write!(out, "<entry {ATOM_NS}>");
    } else {
        out.push_str("<entry>");
    }
    let d = depth + 1;
    for (tag, key) in [("title", "name"), ("id", "id"), ("updated", "updated")] {
        indent(out, d);
        let _ = write!(out, "<{tag}>{}</{tag}>", escape(text_of(e, key)));
    }
    if let Some(p) = e.get("published").and_then(Value::as_str) {
        indent(out, d);
        let _ = write!(out, "<published>{}</published>", escape(p));
    }
    if let Some(links) = e.get("links").and_then(Value::as_object) {
        for (rel, href) in links {
            indent(out, d);
            let _ = write!(
                out,
                "<link href=\"{}\" rel=\"{}\"/>",
                escape(href.as_str().unwrap_or("")),
                escape(rel)
            );
        }
    }
    indent(out, d);
    let _ = write!(
        out,
        "<author>\n{0}  <name>{1}</name>\n{0}</author>",
        "  ".repeat(d),
        escape(text_of(e, "author"))
    );
    let mut content = e
        .get("content")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(acl) = e.get("acl") {
        content.insert("eai:acl".into(), acl.clone());
    }
    indent(out, d);
    out.push_str("<content type=\"text/xml\">");
    indent(out, d + 1);
    rest_dict(&content, out, d + 1);
    indent(out, d);
    out.push_str("</content>");
    indent(out, depth);
    out.push_str("</entry>");
}

/// The Atom feed of a JSON-form collection response (`origin`, `updated`, `generator`, `entry`,
/// `paging`, `messages`), as `GET server/info` and other collections serve it.
pub fn feed(doc: &Value, title: &str) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(PROLOG);
    let _ = write!(out, "<feed {ATOM_NS}>");
    indent(&mut out, 1);
    let _ = write!(out, "<title>{}</title>", escape(title));
    indent(&mut out, 1);
    let _ = write!(out, "<id>{}</id>", escape(text_of(doc, "origin")));
    indent(&mut out, 1);
    let _ = write!(
        out,
        "<updated>{}</updated>",
        escape(text_of(doc, "updated"))
    );
    let generator = doc.get("generator").cloned().unwrap_or_default();
    indent(&mut out, 1);
    let _ = write!(
        out,
        "<generator build=\"{}\" version=\"{}\"/>",
        escape(text_of(&generator, "build")),
        escape(text_of(&generator, "version"))
    );
    indent(&mut out, 1);
    out.push_str("<author>\n    <name>Splunk</name>\n  </author>");
    let paging = doc.get("paging").cloned().unwrap_or_default();
    for (tag, key) in [
        ("totalResults", "total"),
        ("itemsPerPage", "perPage"),
        ("startIndex", "offset"),
    ] {
        indent(&mut out, 1);
        let n = paging
            .get(key)
            .map(scalar_text)
            .unwrap_or_else(|| "0".into());
        let _ = write!(out, "<opensearch:{tag}>{n}</opensearch:{tag}>");
    }
    indent(&mut out, 1);
    out.push_str("<s:messages/>");
    for e in doc
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        entry(e, &mut out, 1, false);
    }
    out.push_str("\n</feed>\n");
    out
}

/// A single entity at the document's root, as `GET search/jobs/<sid>` serves it (no `<feed>`
/// around it).
pub fn root_entry(e: &Value) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(PROLOG);
    entry(e, &mut out, 0, true);
    // `entry` starts with a newline; the prolog already ends with one.
    out.remove(PROLOG.len());
    out.push('\n');
    out
}

/// `<response>` with one element per `(tag, text)`: `auth/login` (`sessionKey`) and job
/// creation (`sid`).
pub fn response(items: &[(&str, &str)]) -> String {
    let mut out = String::from(PROLOG);
    out.push_str("<response>");
    for (tag, text) in items {
        let _ = write!(out, "\n  <{tag}>{}</{tag}>", escape(text));
    }
    out.push_str("\n</response>\n");
    out
}

/// The error and notice envelope: `<response><messages><msg type=…>`.
pub fn messages(msgs: &[(&str, &str)]) -> String {
    let mut out = String::from(PROLOG);
    out.push_str("<response>\n  <messages>");
    for (kind, text) in msgs {
        let _ = write!(
            out,
            "\n    <msg type=\"{}\">{}</msg>",
            escape(kind),
            escape(text)
        );
    }
    out.push_str("\n  </messages>\n</response>\n");
    out
}

/// One results row (a JSON object) as `(field, values)`, null fields left out.
pub fn row_fields(row: &str) -> Vec<(String, Vec<String>)> {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(row) else {
        return Vec::new();
    };
    m.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let values = match &v {
                Value::Array(items) => items.iter().map(scalar_text).collect(),
                other => vec![scalar_text(other)],
            };
            (k, values)
        })
        .collect()
}

/// The `<results>` document: `preview`, the field order, `messages` (`(type, text)`), and one
/// `<result offset=…>` per row with a `<field k=…>` per field: `<value><text>` per value
/// (several for a multivalue field), `_raw` as `<v xml:space='preserve' trunc='0'>`.
pub fn results(
    offset: usize,
    msgs: &[(String, String)],
    fields: &[String],
    rows: &[&str],
) -> String {
    let mut out = String::with_capacity(rows.iter().map(|r| r.len() * 2).sum::<usize>() + 256);
    out.push_str("<?xml version='1.0' encoding='UTF-8'?>\n<results preview='0'>\n<meta>\n");
    if fields.is_empty() {
        out.push_str("<fieldOrder />\n");
    } else {
        out.push_str("<fieldOrder>\n");
        for f in fields {
            let _ = writeln!(out, "<field>{}</field>", escape(f));
        }
        out.push_str("</fieldOrder>\n");
    }
    out.push_str("</meta>\n");
    if !msgs.is_empty() {
        out.push_str("<messages>\n");
        for (kind, text) in msgs {
            let _ = writeln!(
                out,
                "  <msg type=\"{}\">{}</msg>",
                escape(kind),
                escape(text)
            );
        }
        out.push_str("</messages>\n");
    }
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(out, "\t<result offset='{}'>", offset + i);
        for (k, values) in row_fields(row) {
            if k == "_raw" {
                let _ = writeln!(
                    out,
                    "\t\t<field k='_raw'><v xml:space='preserve' trunc='0'>{}</v></field>",
                    escape(&values.concat())
                );
                continue;
            }
            let _ = writeln!(out, "\t\t<field k='{}'>", escape(&k));
            for v in values {
                let _ = writeln!(out, "\t\t\t<value><text>{}</text></value>", escape(&v));
            }
            out.push_str("\t\t</field>\n");
        }
        out.push_str("\t</result>\n");
    }
    out.push_str("</results>\n");
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `output_mode=csv`: a header row of `fields`, then one row per result; a multivalue field's
/// values are joined with newlines inside one quoted cell.
pub fn csv(fields: &[String], rows: &[&str]) -> String {
    let mut out = String::new();
    out.push_str(
        &fields
            .iter()
            .map(|f| csv_cell(f))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for row in rows {
        let mut by_name: std::collections::HashMap<String, Vec<String>> =
            row_fields(row).into_iter().collect();
        let cells: Vec<String> = fields
            .iter()
            .map(|f| csv_cell(&by_name.remove(f).unwrap_or_default().join("\n")))
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn dict_writes_lists_booleans_and_nested_dicts() {
        let v = json!({"a": true, "b": [1, "x"], "c": {}, "d": null});
        let mut out = String::new();
        rest_dict(v.as_object().unwrap(), &mut out, 0);
        let flat: String = out.split_whitespace().collect();
        assert_eq!(
            flat,
            "<s:dict><s:keyname=\"a\">1</s:key><s:keyname=\"b\"><s:list><s:item>1</s:item><s:item>x</s:item></s:list></s:key><s:keyname=\"c\"><s:dict/></s:key><s:keyname=\"d\"></s:key></s:dict>"
        );
    }

    #[test]
    fn csv_quotes_and_joins_multivalues() {
        let rows = [r#"{"a":"x,y","b":["1","2"]}"#];
        assert_eq!(
            csv(&["a".into(), "b".into(), "c".into()], &rows),
            "a,b,c\n\"x,y\",\"1\n2\",\n"
        );
    }
}
