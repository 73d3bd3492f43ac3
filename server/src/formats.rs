//! SageMaker container payload formats as the server is configured with them (`--sagemaker-format`):
//! neutral settings, read by the SageMaker wire and the CLI.

use std::str::FromStr;

/// Which payload format an endpoint's container speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// Detect from the body: `messages` is OpenAI chat, `inputs` is TGI generate.
    #[default]
    Auto,
    /// OpenAI chat completions (TGI Messages API, DJL-LMI, vLLM).
    OpenAi,
    /// Hugging Face TGI `generate`.
    Tgi,
}

impl FromStr for PayloadFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PayloadFormat::Auto),
            "openai" => Ok(PayloadFormat::OpenAi),
            "tgi" => Ok(PayloadFormat::Tgi),
            other => Err(format!(
                "unknown SageMaker payload format {other:?}: expected auto, openai or tgi"
            )),
        }
    }
}

/// Parses a `--sagemaker-format` value: `ENDPOINT=FORMAT` (`*` for every endpoint) or just `FORMAT`.
pub fn parse_format_override(s: &str) -> Result<(String, PayloadFormat), String> {
    match s.rsplit_once('=') {
        Some((endpoint, format)) if !endpoint.is_empty() => Ok((endpoint.to_string(), format.parse()?)),
        _ => Ok(("*".to_string(), s.parse()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_overrides_parse_per_endpoint_or_for_all() {
        assert_eq!(
            parse_format_override("llama=tgi"),
            Ok(("llama".into(), PayloadFormat::Tgi))
        );
        assert_eq!(
            parse_format_override("openai"),
            Ok(("*".into(), PayloadFormat::OpenAi))
        );
        assert!(parse_format_override("x=gguf").is_err());
    }
}
