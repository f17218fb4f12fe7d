//! The Splunk mock's XML (its default representation, as splunkd's) read back with a real XML
//! parser (quick-xml) carries the same field values as its `output_mode=json` form: `server/info`,
//! job creation and status, results (and their messages), login and the error envelope.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use serde_json::{Map, Value};

use seliq_mocks::splunk::{DEFAULT_PASSWORD, DEFAULT_USER, SplunkMock, SplunkMockConfig};

// ------------------------------------------------------------------ a small DOM over quick-xml

#[derive(Debug, Default, Clone)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    text: String,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> El {
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.expect("a well-formed attribute");
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .expect("an attribute value");
            (a.key.into_inner().to_owned(), v.into_owned())
        })
        .collect();
    El {
        name: e.name().into_inner().to_owned(),
        attrs,
        ..El::default()
    }
}

/// The document's root element; panics on anything that is not well-formed XML.
fn parse(xml: &str) -> El {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<El> = vec![El::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let el = element(&e);
                stack.last_mut().unwrap().children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().expect("balanced tags").children.push(el);
            }
            Event::Text(t) => stack.last_mut().unwrap().text += &t.xml10_content(),
            Event::CData(t) => stack.last_mut().unwrap().text += &t.xml10_content(),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().expect("a valid character reference") {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&r.xml10_content())
                        .expect("a predefined entity")
                        .to_owned(),
                };
                stack.last_mut().unwrap().text += &resolved;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.remove(0)
}

/// An `s:dict` / `s:list` / scalar key as JSON, every scalar a string, empty ones null.
fn rest(el: &El) -> Value {
    match el.name.as_str() {
        "s:dict" => Value::Object(
            el.all("s:key")
                .map(|k| (k.attr("name").unwrap().to_owned(), key_value(k)))
                .collect(),
        ),
        "s:list" => Value::Array(el.all("s:item").map(key_value).collect()),
        other => panic!("unexpected <{other}> in an s:dict"),
    }
}

fn key_value(k: &El) -> Value {
    match k.children.first() {
        Some(c) => rest(c),
        None if k.text.is_empty() => Value::Null,
        None => Value::String(k.text.clone()),
    }
}

/// A JSON value spelt as splunkd spells it in XML: booleans `1`/`0`, numbers as text, empty
/// strings like nulls.
fn as_xml_text(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Bool(b) => Value::String(if *b { "1" } else { "0" }.into()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) if s.is_empty() => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        Value::Array(a) => Value::Array(a.iter().map(as_xml_text).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), as_xml_text(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

// ------------------------------------------------------------------ HTTP without a client crate

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

async fn http(base: &str, method: &str, path: &str, auth: &str, form: &str) -> Reply {
    let (host, method, path, auth, form) = (
        base.trim_start_matches("http://").to_owned(),
        method.to_owned(),
        path.to_owned(),
        auth.to_owned(),
        form.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("Authorization: {auth}\r\n")
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        Reply {
            status: head[9..12].parse().unwrap(),
            content_type,
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

const BASIC: &str = "Basic YWRtaW46Y2hhbmdlbWU="; // admin:changeme

async fn mock(events: usize) -> SplunkMock {
    SplunkMock::start(SplunkMockConfig {
        indexes: vec![("main".into(), events)],
        notables: vec![],
        ..SplunkMockConfig::default()
    })
    .await
}

fn json(r: &Reply) -> Value {
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

fn xml(r: &Reply) -> El {
    assert!(r.content_type.starts_with("text/xml"), "{}", r.content_type);
    parse(&r.body)
}

// ------------------------------------------------------------------ the tests

#[tokio::test]
async fn server_info_atom_feed_carries_the_json_content() {
    let m = mock(3).await;
    let as_xml = http(&m.uri(), "GET", "/services/server/info", BASIC, "").await;
    assert_eq!(as_xml.status, 200);
    let feed = xml(&as_xml);
    assert_eq!(feed.name, "feed");
    assert_eq!(feed.attr("xmlns"), Some("http://www.w3.org/2005/Atom"));
    assert_eq!(feed.attr("xmlns:s"), Some("http://dev.splunk.com/ns/rest"));
    assert_eq!(
        feed.child("opensearch:totalResults").unwrap().text,
        "1",
        "one entry"
    );
    let entry = feed.child("entry").unwrap();
    assert_eq!(entry.child("title").unwrap().text, "server-info");
    let content = entry.child("content").unwrap();
    assert_eq!(content.attr("type"), Some("text/xml"));
    let from_xml = rest(content.child("s:dict").unwrap());

    let as_json = http(
        &m.uri(),
        "GET",
        "/services/server/info?output_mode=json",
        BASIC,
        "",
    )
    .await;
    let from_json = &json(&as_json)["entry"][0]["content"];
    assert_eq!(from_xml, as_xml_text(from_json));
    assert_eq!(from_xml["version"], "9.4.1");
    assert_eq!(from_xml["guid"], Value::String(m.server_guid()));
    assert_eq!(from_xml["server_roles"][1], "search_head");
    assert_eq!(from_xml["isFree"], "0");
}

#[tokio::test]
async fn job_create_and_status_read_the_same_in_xml_and_json() {
    let m = mock(7).await;
    let base = m.uri();
    // XML create: <response><sid>.
    let created = http(
        &base,
        "POST",
        "/services/search/v2/jobs",
        BASIC,
        "search=search%20index%3Dmain&exec_mode=blocking",
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let response = xml(&created);
    assert_eq!(response.name, "response");
    let sid = response.child("sid").unwrap().text.clone();
    assert!(!sid.is_empty());
    // JSON create: {"sid"}.
    let created = http(
        &base,
        "POST",
        "/services/search/v2/jobs",
        BASIC,
        "search=search%20index%3Dmain&exec_mode=blocking&output_mode=json",
    )
    .await;
    assert_eq!(created.status, 201);
    assert!(json(&created)["sid"].as_str().is_some_and(|s| s != sid));

    let status_xml = http(
        &base,
        "GET",
        &format!("/services/search/v2/jobs/{sid}"),
        BASIC,
        "",
    )
    .await;
    let entry = xml(&status_xml);
    assert_eq!(entry.name, "entry", "the job entity is the document root");
    assert_eq!(entry.attr("xmlns:s"), Some("http://dev.splunk.com/ns/rest"));
    let mut from_xml = rest(entry.child("content").unwrap().child("s:dict").unwrap());
    let acl = from_xml.as_object_mut().unwrap().remove("eai:acl").unwrap();

    let status_json = http(
        &base,
        "GET",
        &format!("/services/search/v2/jobs/{sid}?output_mode=json"),
        BASIC,
        "",
    )
    .await;
    let doc = json(&status_json);
    assert_eq!(from_xml, as_xml_text(&doc["entry"][0]["content"]));
    assert_eq!(acl, as_xml_text(&doc["entry"][0]["acl"]));
    assert_eq!(from_xml["dispatchState"], "DONE");
    assert_eq!(from_xml["isDone"], "1");
    assert_eq!(from_xml["isFailed"], "0");
    assert_eq!(from_xml["resultCount"], "7");
    assert_eq!(from_xml["sid"], Value::String(sid.clone()));
    let links: Vec<(&str, &str)> = entry
        .all("link")
        .map(|l| (l.attr("rel").unwrap(), l.attr("href").unwrap()))
        .collect();
    assert!(links.contains(&("results", &*format!("/services/search/jobs/{sid}/results"))));
    assert_eq!(
        entry.child("author").unwrap().child("name").unwrap().text,
        DEFAULT_USER
    );
}

/// `(field, values)` of each `<result>`.
fn xml_rows(results: &El) -> Vec<BTreeMap<String, Vec<String>>> {
    results
        .all("result")
        .map(|r| {
            r.all("field")
                .map(|f| {
                    let values: Vec<String> = match f.child("v") {
                        Some(v) => {
                            assert_eq!(v.attr("xml:space"), Some("preserve"));
                            vec![v.text.clone()]
                        }
                        None => f
                            .all("value")
                            .map(|v| v.child("text").unwrap().text.clone())
                            .collect(),
                    };
                    (f.attr("k").unwrap().to_owned(), values)
                })
                .collect()
        })
        .collect()
}

fn json_rows(doc: &Value) -> Vec<BTreeMap<String, Vec<String>>> {
    let text = |v: &Value| match as_xml_text(v) {
        Value::String(s) => s,
        other => panic!("not a scalar: {other}"),
    };
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let values = match v {
                        Value::Array(a) => a.iter().map(text).collect(),
                        v => vec![text(v)],
                    };
                    (k.clone(), values)
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn results_xml_rows_fields_and_messages_match_the_json_page() {
    let m = mock(9).await;
    let base = m.uri();
    // A peer fails while the job runs: the results carry a WARN message in both forms.
    m.fail_peer_next_jobs(1);
    let created = http(
        &base,
        "POST",
        "/services/search/jobs",
        BASIC,
        "search=search%20index%3Dmain&exec_mode=blocking&output_mode=json",
    )
    .await;
    let sid = json(&created)["sid"].as_str().unwrap().to_owned();
    for (query, offset) in [("count=0", 0), ("count=2&offset=3", 3)] {
        let path = format!("/services/search/v2/jobs/{sid}/results?{query}");
        let page_xml = http(&base, "GET", &path, BASIC, "").await;
        assert_eq!(page_xml.status, 200, "{}", page_xml.body);
        let results = xml(&page_xml);
        assert_eq!(results.name, "results");
        assert_eq!(results.attr("preview"), Some("0"));
        let page_json = http(&base, "GET", &format!("{path}&output_mode=json"), BASIC, "").await;
        let doc = json(&page_json);

        let rows = xml_rows(&results);
        assert!(!rows.is_empty());
        assert_eq!(rows, json_rows(&doc), "{query}");
        let offsets: Vec<usize> = results
            .all("result")
            .map(|r| r.attr("offset").unwrap().parse().unwrap())
            .collect();
        assert_eq!(offsets[0], offset);
        assert_eq!(doc["init_offset"], offset);

        let order: Vec<&str> = results
            .child("meta")
            .unwrap()
            .child("fieldOrder")
            .unwrap()
            .all("field")
            .map(|f| f.text.as_str())
            .collect();
        let fields: Vec<&str> = doc["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(order, fields);

        let msgs: Vec<(String, String)> = results
            .child("messages")
            .unwrap()
            .all("msg")
            .map(|m| (m.attr("type").unwrap().to_owned(), m.text.clone()))
            .collect();
        let json_msgs: Vec<(String, String)> = doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["type"].as_str().unwrap().to_owned(),
                    m["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(msgs, json_msgs);
        assert!(msgs[0].1.contains("Search results might be incomplete"));
    }
    // `_raw` survives escaping: it holds quotes in the seeded data.
    let page_xml = http(
        &base,
        "POST",
        &format!("/services/search/v2/jobs/{sid}/results"),
        BASIC,
        "count=1",
    )
    .await;
    let rows = xml_rows(&xml(&page_xml));
    assert!(rows[0]["_raw"][0].contains('"'), "{:?}", rows[0]["_raw"]);

    // CSV: the header is the field order.
    let csv = http(
        &base,
        "GET",
        &format!("/services/search/v2/jobs/{sid}/results?output_mode=csv&count=1"),
        BASIC,
        "",
    )
    .await;
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    assert!(
        csv.body.starts_with("_bkt,_cd,_indextime,_raw,"),
        "{}",
        csv.body
    );
}

#[tokio::test]
async fn login_and_errors_answer_xml_unless_json_is_asked_for() {
    let m = mock(1).await;
    let base = m.uri();
    let form = format!("username={DEFAULT_USER}&password={DEFAULT_PASSWORD}");
    let login = http(&base, "POST", "/services/auth/login", "", &form).await;
    assert_eq!(login.status, 200);
    let response = xml(&login);
    assert_eq!(response.name, "response");
    let key = response.child("sessionKey").unwrap().text.clone();
    let info = http(
        &base,
        "GET",
        "/services/server/info",
        &format!("Splunk {key}"),
        "",
    )
    .await;
    assert_eq!(info.status, 200);

    let refused = http(
        &base,
        "POST",
        "/services/auth/login",
        "",
        &format!("username={DEFAULT_USER}&password=wrong"),
    )
    .await;
    assert_eq!(refused.status, 401);
    let msg = xml(&refused);
    let msg = msg.child("messages").unwrap().child("msg").unwrap();
    assert_eq!(msg.attr("type"), Some("WARN"));
    assert_eq!(msg.text, "Login failed");

    let unauth = http(
        &base,
        "GET",
        "/services/search/v2/jobs/x",
        "Splunk nope",
        "",
    )
    .await;
    assert_eq!(unauth.status, 401);
    let doc = xml(&unauth);
    let msg = doc.child("messages").unwrap().child("msg").unwrap();
    assert_eq!(
        (msg.attr("type"), msg.text.as_str()),
        (Some("WARN"), "call not properly authenticated")
    );
    let unauth = http(
        &base,
        "GET",
        "/services/search/v2/jobs/x?output_mode=json",
        "Splunk nope",
        "",
    )
    .await;
    assert_eq!(
        json(&unauth)["messages"][0]["text"],
        "call not properly authenticated"
    );

    let missing = http(&base, "DELETE", "/services/search/jobs/nope", BASIC, "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        xml(&missing)
            .child("messages")
            .unwrap()
            .child("msg")
            .unwrap()
            .attr("type"),
        Some("ERROR")
    );
}

#[tokio::test]
async fn messages_collection_is_an_empty_feed() {
    let m = mock(1).await;
    let r = http(&m.uri(), "GET", "/services/messages", BASIC, "").await;
    assert_eq!(r.status, 200);
    let feed = xml(&r);
    assert_eq!(feed.name, "feed");
    assert_eq!(feed.child("opensearch:totalResults").unwrap().text, "0");
    assert!(feed.child("entry").is_none());
    let r = http(
        &m.uri(),
        "GET",
        "/services/messages?output_mode=json",
        BASIC,
        "",
    )
    .await;
    assert_eq!(json(&r)["entry"], Value::Array(vec![]));
}
