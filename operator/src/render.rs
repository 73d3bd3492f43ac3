//! Fixture rendering: validate the MockModel's fixtures with the server's own loader and merge
//! inline and `fixturesFrom` fixtures, in order, into the one document the ConfigMap carries.
//!
//! Pure; no client. The fetched `fixturesFrom` documents are passed in by the controller.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use mockmodel_server::fixture::{FixtureError, load_documents};
use serde_json::{Map, Value};

use crate::crd::{ConfigMapKey, MockModelSpec};

/// ConfigMap key holding the merged fixtures.
pub const FIXTURES_KEY: &str = "fixtures.json";
/// Name the inline fixtures are validated under (its `.json` suffix selects the JSON parser).
const INLINE_NAME: &str = "spec.json";

/// A fetched `fixturesFrom` document.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDoc {
    /// Where it came from.
    pub source: ConfigMapKey,
    /// The key's text (a fixture file, JSON or YAML).
    pub text: String,
}

impl SourceDoc {
    /// The name the loader reports it under; ends with the key so the key's suffix picks the parser.
    fn name(&self) -> String {
        format!("configMap {}, key {}", self.source.name, self.source.key)
    }
}

/// Valid, merged fixtures ready for the ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// ConfigMap `data`.
    pub data: BTreeMap<String, String>,
    /// Number of fixtures.
    pub count: usize,
    /// Warnings from the loader (aimock-only kinds and the like), formatted like errors.
    pub warnings: Vec<String>,
}

/// Validates and merges the fixtures; on failure returns every error, each with its field path
/// (`spec.fixtures[3].response.chunkSize: must be at least 1`).
pub fn render(spec: &MockModelSpec, sources: &[SourceDoc]) -> Result<Rendered, Vec<String>> {
    // The rest of the spec the server would refuse to start with, reported the same way.
    crate::recording::validate(spec)?;
    let inline = serde_json::json!({ "fixtures": spec.fixtures }).to_string();
    let named: Vec<(String, &str)> = std::iter::once((INLINE_NAME.to_string(), inline.as_str()))
        .chain(sources.iter().map(|s| (s.name(), s.text.as_str())))
        .collect();
    let set = load_documents(named.iter().map(|(n, t)| (n.as_str(), *t)))
        .map_err(|e| e.0.iter().map(describe).collect::<Vec<_>>())?;

    let mut fixtures: Vec<Value> = spec.fixtures.clone();
    for s in sources {
        fixtures.extend(raw_fixtures(s).map_err(|e| vec![e])?);
    }
    if let Some(profile) = spec.defaults.as_ref().and_then(|d| d.streaming_profile.as_ref()) {
        let profile = serde_json::to_value(profile).map_err(|e| vec![e.to_string()])?;
        for f in &mut fixtures {
            if let Value::Object(obj) = f {
                obj.entry("streamingProfile").or_insert_with(|| profile.clone());
            }
        }
    }
    let doc = Value::Object(Map::from_iter([("fixtures".to_string(), Value::Array(fixtures))]));
    Ok(Rendered {
        data: BTreeMap::from([(FIXTURES_KEY.to_string(), doc.to_string())]),
        count: set.len(),
        warnings: set.warnings.iter().map(describe).collect(),
    })
}

/// How many fixtures a rendered ConfigMap serves, counted by the server's own loader (so the
/// count means what [`Rendered::count`] means); `None` when it holds no loadable document.
pub fn served(cm: &ConfigMap) -> Option<usize> {
    let text = cm.data.as_ref()?.get(FIXTURES_KEY)?;
    load_documents([(FIXTURES_KEY, text.as_str())])
        .ok()
        .map(|set| set.len())
}

/// The `fixtures` list of an already validated document, exactly as written.
fn raw_fixtures(s: &SourceDoc) -> Result<Vec<Value>, String> {
    let doc: Value = if s.source.key.ends_with(".json") {
        serde_json::from_str(&s.text).map_err(|e| format!("{}: {e}", s.name()))?
    } else {
        serde_yaml::from_str(&s.text).map_err(|e| format!("{}: {e}", s.name()))?
    };
    Ok(match doc.get("fixtures") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    })
}

/// One loader finding as a status message: inline fixtures by their path in the resource.
fn describe(e: &FixtureError) -> String {
    if e.file == INLINE_NAME {
        let level = if e.to_string().starts_with("warning: ") {
            "warning: "
        } else {
            ""
        };
        if e.path.is_empty() {
            format!("{level}spec.fixtures: {}", e.message)
        } else {
            format!("{level}spec.{}: {}", e.path, e.message)
        }
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::FixtureDefaults;

    fn spec(yaml: &str) -> MockModelSpec {
        serde_yaml::from_str(yaml).expect("spec parses")
    }

    fn source(name: &str, key: &str, text: &str) -> SourceDoc {
        SourceDoc {
            source: ConfigMapKey {
                name: name.into(),
                key: key.into(),
            },
            text: text.into(),
        }
    }

    fn fixtures_of(r: &Rendered) -> Vec<Value> {
        let doc: Value = serde_json::from_str(&r.data[FIXTURES_KEY]).expect("json");
        doc["fixtures"].as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn a_bad_record_upstream_is_reported_like_a_bad_fixture() {
        let s = spec("record: {upstreams: [{url: 'https://key:secret@api.openai.com'}]}\n");
        let errors = render(&s, &[]).expect_err("invalid");
        assert!(
            errors[0].starts_with("spec.record.upstreams[0].url: "),
            "{errors:?}"
        );
        let ok =
            spec("record: {mode: proxy, upstreams: [{url: 'http://a.b.svc:8080', protocol: bedrock}]}\n");
        assert!(render(&ok, &[]).is_ok());
    }

    #[test]
    fn inline_then_sources_are_merged_in_order() {
        let s = spec("fixtures:\n- {match: {userMessage: a}, response: {content: A}}\n");
        let r = render(
            &s,
            &[
                source(
                    "one",
                    "x.yaml",
                    "fixtures:\n- {match: {userMessage: b}, response: {content: B}}\n",
                ),
                source("two", "y.json", r#"{"fixtures":[{"response":{"content":"C"}}]}"#),
            ],
        )
        .expect("valid");
        assert_eq!(r.count, 3);
        let contents: Vec<String> = fixtures_of(&r)
            .iter()
            .map(|f| f["response"]["content"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(contents, ["A", "B", "C"]);
    }

    #[test]
    fn invalid_inline_fixture_is_reported_with_its_path_in_the_resource() {
        let s = spec("fixtures:\n- {response: {content: ok}}\n- {chunkSize: 0, response: {content: x}}\n");
        let errors = render(&s, &[]).expect_err("invalid");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.fixtures[1].chunkSize: "),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn invalid_source_fixture_names_the_configmap_and_key() {
        let s = spec("{}");
        let errors = render(
            &s,
            &[source(
                "big",
                "set.yaml",
                "fixtures:\n- {match: {userMesage: x}, response: {content: y}}\n",
            )],
        )
        .expect_err("invalid");
        assert!(
            errors[0].starts_with("configMap big, key set.yaml: fixtures[0]"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn default_streaming_profile_fills_only_fixtures_without_one() {
        let mut s = spec(
            "fixtures:\n- {response: {content: a}}\n- {streamingProfile: {tps: 5}, response: {content: b}}\n",
        );
        s.defaults = Some(FixtureDefaults {
            streaming_profile: serde_json::from_str(r#"{"ttft": 100, "tps": 50}"#).ok(),
            ..Default::default()
        });
        let f = fixtures_of(&render(&s, &[]).expect("valid"));
        assert_eq!(f[0]["streamingProfile"]["tps"], 50.0);
        assert_eq!(f[1]["streamingProfile"]["tps"], 5);
    }

    #[test]
    fn rendered_document_loads_in_the_server() {
        let s = spec(
            "fixtures:\n- {match: {userMessage: {regex: '^hi'}}, response: {toolCalls: [{name: f, arguments: '{\"a\":1}'}]}}\n",
        );
        let r = render(&s, &[]).expect("valid");
        let set = load_documents([(FIXTURES_KEY, r.data[FIXTURES_KEY].as_str())]).expect("loads");
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_rendered_configmap_counts_what_it_serves_and_a_broken_one_counts_nothing() {
        let s = spec("fixtures:\n- {response: {content: a}}\n- {response: {content: b}}\n");
        let r = render(&s, &[]).expect("valid");
        let cm = |data: BTreeMap<String, String>| ConfigMap {
            data: Some(data),
            ..ConfigMap::default()
        };
        assert_eq!(served(&cm(r.data.clone())), Some(r.count));
        assert_eq!(served(&cm(BTreeMap::new())), None, "no fixtures key");
        let broken = BTreeMap::from([(FIXTURES_KEY.to_string(), "{\"fixtures\": [".to_string())]);
        assert_eq!(served(&cm(broken)), None, "edited by hand into broken JSON");
    }
}
