//! Known answers for `event_id`: fixed vendor records in, fixed hex out, through the same mapping
//! functions the connectors use. The expected values were computed independently with the Python
//! recipe in the README's alert schema section, so a change to the formula (which would change
//! every id already delivered to consumers) fails here, not in a customer's dedup.

use seliq_connectors::alert::event_id;
use seliq_connectors::{crowdstrike, sentinel, splunk};
use serde_json::value::RawValue;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

#[test]
fn the_formula_itself() {
    for (source, id, version, want) in [
        ("", "", "", "a3b5b53bbcfe7b8ed67b0307b83f7c86"),
        // Length prefixes keep moved boundaries apart.
        ("ab", "c", "v", "d3db3b67f8195405f86ddb77eddfa766"),
        ("a", "bc", "v", "a77a18f7151329233ecd81484b483cd0"),
        // Lengths are UTF-8 byte counts, not characters.
        (
            "crowdstrike:é",
            "ü",
            "2026-01-01T00:00:00Z",
            "1a73d969bf46bf851e5dc206cffac557",
        ),
    ] {
        assert_eq!(event_id(source, id, version), want, "{source:?} {id:?}");
    }
}

#[test]
fn crowdstrike_known_answer() {
    let source = "crowdstrike:92012896127c4a948236ba7601b886b0";
    let a = crowdstrike::map_alert(
        source,
        raw(
            r#"{"composite_id":"92012896127c4a948236ba7601b886b0:ind:2ce412d17b334ad4adc8c1c54dbfec4b:399748687993-5761-42627600","cid":"92012896127c4a948236ba7601b886b0","name":"PrewittPupAdwareSensorDetect-Lowest","severity":30,"status":"new","updated_timestamp":"2023-11-03T19:00:23.985007341Z"}"#,
        ),
    )
    .unwrap();
    // The version is `updated_timestamp` verbatim, all nine fractional digits.
    assert_eq!(a.event_id, "200509fdcc4c9f809aca791a798dbfbe");
}

#[test]
fn sentinel_known_answer() {
    let source = "sentinel:public:/subscriptions/6b1ceb4f-3f0e-4b2c-9f7a-0a1b2c3d4e5f/resourcegroups/acme-soc/providers/microsoft.operationalinsights/workspaces/acme-sentinel";
    let a = sentinel::map_incident(
        source,
        raw(
            r#"{"name":"23194e70-b65f-4ba7-a30d-23d2e749170f","properties":{"title":"Suspicious PowerShell command line on FIN-WS-042","severity":"Informational","status":"New","createdTimeUtc":"2026-12-03T05:26:16.1406751Z","lastModifiedTimeUtc":"2026-12-03T06:43:16.1406751Z"}}"#,
        ),
    )
    .unwrap();
    // The version is `properties.lastModifiedTimeUtc` as sent (seven digits), not re-rendered.
    assert_eq!(a.event_id, "243f4ba6d6d826daea55ffab07b0aa94");
}

#[test]
fn splunk_known_answers() {
    let source = "splunk:https://splunk.example.com:8089/servicesNS/nobody/SplunkEnterpriseSecuritySuite?index=notable";
    // An ES notable: the id is its `event_id` field, the version its `_indextime` text.
    let notable = splunk::map_row(
        source,
        raw(
            r#"{"event_id":"5C3E4B6A-1F2D-4E8B-9A7C-0D1E2F3A4B5C@@notable@@1f2e3d4c5b6a79881f2e3d4c5b6a7988","index":"notable","_time":"2026-12-02T12:42:16.631+00:00","_indextime":"1796215354","urgency":"high","rule_title":"Brute force"}"#,
        ),
        splunk::IdMode::Notable,
    )
    .unwrap();
    assert_eq!(notable.alert.event_id, "4750dc7feb9a645679331bbba8552c3f");

    // A raw event: the id is our row hash (pinned too: it feeds the event_id), and a number
    // literal `_indextime` counts as its text.
    let event = splunk::map_row(
        source,
        raw(
            r#"{"_cd":"0:0","index":"notable","_time":"2026-12-02T12:42:16.631+00:00","_indextime":1796215354,"_raw":"host=db-01 action=allowed"}"#,
        ),
        splunk::IdMode::Events,
    )
    .unwrap();
    assert_eq!(event.alert.id, "8b120e281e1037f5c88b22d8e76e99de");
    assert_eq!(event.alert.event_id, "1b16185b91fbc12472e021f185fbd278");
}
