//! The `--auth` credentials file: AWS access keys and API keys, read once at start. Kept apart
//! from the checks so the server's settings can hold it without importing the wire codecs.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The credentials file (YAML or JSON), read once at start.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// AWS access keys that may sign requests (SigV4) to Bedrock and SageMaker routes.
    #[serde(default)]
    pub aws: Vec<AwsKey>,
    /// Bedrock API keys (`Authorization: Bearer`, the SDKs' `AWS_BEARER_TOKEN_BEDROCK`).
    #[serde(default)]
    pub bedrock_api_keys: Vec<String>,
    /// OpenAI API keys (`Authorization: Bearer`).
    #[serde(default)]
    pub openai_api_keys: Vec<String>,
    /// Anthropic API keys (`x-api-key`, or `Authorization: Bearer` as the SDKs' `auth_token`).
    #[serde(default)]
    pub anthropic_api_keys: Vec<String>,
    /// Keys for the journal and control routes (`/__mockmodel/*`) besides every API key above.
    #[serde(default)]
    pub admin_api_keys: Vec<String>,
}

/// One AWS access key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsKey {
    /// The access key id the client names in its credential scope.
    pub access_key_id: String,
    /// The secret it signs with.
    pub secret_access_key: String,
}

// Never print a secret (the config is logged at debug level).
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("aws", &self.aws.len())
            .field("bedrock_api_keys", &self.bedrock_api_keys.len())
            .field("openai_api_keys", &self.openai_api_keys.len())
            .field("anthropic_api_keys", &self.anthropic_api_keys.len())
            .field("admin_api_keys", &self.admin_api_keys.len())
            .finish()
    }
}

impl Credentials {
    /// Reads a credentials file; the error names the file and the failing field.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --auth file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("invalid --auth file {}: {e}", path.display()))
    }

    /// Parses a credentials document (YAML, so JSON too).
    pub fn parse(text: &str) -> Result<Self, String> {
        let de = serde_yaml::Deserializer::from_str(text);
        let creds: Credentials = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })?;
        if let Some(i) = creds
            .aws
            .iter()
            .position(|k| k.access_key_id.is_empty() || k.secret_access_key.is_empty())
        {
            return Err(format!(
                "aws[{i}]: accessKeyId and secretAccessKey must not be empty"
            ));
        }
        Ok(creds)
    }

    /// The secret of a configured access key.
    pub(super) fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.aws
            .iter()
            .find(|k| ct_eq(&k.access_key_id, access_key_id))
            .map(|k| k.secret_access_key.as_str())
    }
}

/// Equality whose time does not depend on where two keys of equal length differ.
pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_names_a_bad_field() {
        let c = Credentials::parse("aws: [{accessKeyId: AKID, secretAccessKey: s}]\nopenaiApiKeys: [sk-1]\n")
            .unwrap();
        assert_eq!(c.secret("AKID"), Some("s"));
        assert_eq!(c.secret("AKIE"), None);
        assert!(!format!("{c:?}").contains("sk-1"));
        let e = Credentials::parse("aws: [{accessKeyId: AKID}]").unwrap_err();
        assert!(e.contains("aws[0]") && e.contains("secretAccessKey"), "{e}");
        let e = Credentials::parse("openaiKeys: []").unwrap_err();
        assert!(e.contains("openaiKeys"), "{e}");
    }

    #[test]
    fn keys_compare_by_value() {
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
