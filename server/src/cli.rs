//! Command line: `mockmodel-server [OPTIONS]` serves; `mockmodel-server validate PATH...` checks fixtures.
//! Every option is also an environment variable, so a Deployment can set them without args.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::faults::ChaosRates;
use crate::fixture::schema::SemanticFault;
use crate::fixture::{FixtureSet, LoadError, load_paths};
use crate::plan::{DEFAULT_CHUNK_SIZE, Defaults};
use crate::state::Config;
use crate::telemetry::LogFormat;

/// Wire-exact mock of Bedrock Runtime, SageMaker Runtime and OpenAI-compatible model endpoints.
///
/// Answers from aimock-compatible fixture files; with no --fixtures it serves embedded defaults
/// (a greeting, a get_weather tool round trip, a throttling error and an embedding).
#[derive(Debug, Parser)]
#[command(name = "mockmodel-server", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for serving.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check fixture files or directories; exits non-zero on any error.
    Validate {
        /// Fixture files or directories (JSON or YAML).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Options of the server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Fixture file or directory (repeatable; directories load recursively, sorted).
    #[arg(
        short,
        long = "fixtures",
        value_name = "PATH",
        env = "MOCKMODEL_FIXTURES",
        value_delimiter = ','
    )]
    pub fixtures: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "MOCKMODEL_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (4010 is aimock's, so existing client configs keep working).
    #[arg(short, long, env = "MOCKMODEL_PORT", default_value_t = 4010)]
    pub port: u16,
    /// Answer requests no fixture matches with 503 instead of 404.
    #[arg(long, env = "MOCKMODEL_STRICT")]
    pub strict: bool,
    /// Accept requests the real service would reject: skip validation against the AWS service
    /// models and the OpenAI and Anthropic request schemas (out-of-range values, missing members,
    /// bad enums and patterns).
    #[arg(long, env = "MOCKMODEL_LENIENT")]
    pub lenient: bool,
    /// How usage not stated by a fixture is counted: `tiktoken` counts OpenAI models with their
    /// real tokenizer (its o200k tables take about 60 MB and ~0.1 s to build, before the port opens),
    /// `estimate` counts every model at 4 characters a token.
    #[arg(long, env = "MOCKMODEL_TOKEN_COUNT", value_enum, default_value = "tiktoken")]
    pub token_count: crate::tokens::TokenCount,
    /// Reload fixtures when the files change (an invalid edit keeps the last good set).
    #[arg(long, env = "MOCKMODEL_WATCH")]
    pub watch: bool,
    /// Log format.
    #[arg(long, env = "MOCKMODEL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Default characters per streamed chunk (fixtures may override).
    #[arg(long, env = "MOCKMODEL_CHUNK_SIZE", default_value_t = DEFAULT_CHUNK_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_size: u64,
    /// Default delay in milliseconds before every answer (fixtures may override).
    #[arg(long, env = "MOCKMODEL_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Largest accepted request body in bytes; larger bodies get a 413 in the protocol's error shape.
    #[arg(long, env = "MOCKMODEL_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests kept in the journal (`GET /__mockmodel/journal`); 0 disables it.
    #[arg(long, env = "MOCKMODEL_JOURNAL_SIZE", default_value_t = 1000)]
    pub journal_size: usize,
    /// Record no request, fixture, fault or vLLM metrics (`/metrics` stays up, mostly empty).
    #[arg(long, env = "MOCKMODEL_NO_METRICS")]
    pub no_metrics: bool,
    /// Probability (0-1) of answering a matched request with a 500 error instead.
    #[arg(long, env = "MOCKMODEL_CHAOS_DROP", default_value_t = 0.0, value_parser = rate)]
    pub chaos_drop: f64,
    /// Probability (0-1) of sending a malformed body or stream chunk.
    #[arg(long, env = "MOCKMODEL_CHAOS_MALFORMED", default_value_t = 0.0, value_parser = rate)]
    pub chaos_malformed: f64,
    /// Probability (0-1) of dropping the connection part-way through the body.
    #[arg(long, env = "MOCKMODEL_CHAOS_DISCONNECT", default_value_t = 0.0, value_parser = rate)]
    pub chaos_disconnect: f64,
    /// Inject a semantic fault (model misbehaviour) into answers whose fixture has no
    /// `semanticFault`: `KIND[=RATE][@TIMES]` (repeatable; rate defaults to 1, `@TIMES` caps how
    /// often). Kinds: toolArgsInvalidJson, toolArgsSchemaViolation, toolUnknownName,
    /// toolCallIdDuplicate, stopAtMaxTokensMidTool, emptyResponse, refusal, contentFilter,
    /// reasoningOnly.
    #[arg(
        long = "semantic-fault",
        value_name = "KIND[=RATE][@TIMES]",
        env = "MOCKMODEL_SEMANTIC_FAULT",
        value_delimiter = ',',
        value_parser = crate::semantic::parse_flag
    )]
    pub semantic_faults: Vec<SemanticFault>,
    /// SageMaker payload format: `ENDPOINT=auto|openai|tgi` (repeatable; `*` or no `ENDPOINT=` for
    /// all endpoints); by default each request's body decides.
    #[arg(
        long = "sagemaker-format",
        value_name = "[ENDPOINT=]FORMAT",
        env = "MOCKMODEL_SAGEMAKER_FORMAT",
        value_delimiter = ',',
        value_parser = crate::formats::parse_format_override
    )]
    pub sagemaker_formats: Vec<(String, crate::formats::PayloadFormat)>,
    /// Forward requests no fixture matches to a real upstream and relay its answer unchanged
    /// (streams frame by frame): `[PROTOCOL=]URL`, repeatable; a URL without `PROTOCOL=` serves
    /// every protocol (openai, anthropic, bedrock, sagemaker) without its own. The request's path
    /// is appended to URL. Bedrock and SageMaker requests are re-signed with SigV4 from the
    /// standard AWS credential chain (a Bedrock API key is passed on as sent); OpenAI and
    /// Anthropic keys are passed on as sent.
    #[arg(
        long = "proxy-unmatched",
        value_name = "[PROTOCOL=]URL",
        env = "MOCKMODEL_PROXY_UNMATCHED",
        value_delimiter = ',',
        value_parser = crate::proxy::parse_target,
        conflicts_with = "record"
    )]
    pub proxy_unmatched: Vec<crate::proxy::Target>,
    /// As --proxy-unmatched, and also write each relayed answer as a fixture file into
    /// --record-dir (Chat Completions, the Responses API, Anthropic Messages, Bedrock
    /// Converse/ConverseStream and InvokeModel(WithResponseStream), SageMaker
    /// InvokeEndpoint(WithResponseStream) answers, and their upstream errors; others are relayed
    /// only). Files are never overwritten; keys and signatures are never written. The recorded set
    /// is served as one fixture file at `GET /__mockmodel/recorded`.
    #[arg(
        long = "record",
        value_name = "[PROTOCOL=]URL",
        env = "MOCKMODEL_RECORD",
        value_delimiter = ',',
        value_parser = crate::proxy::parse_target,
        requires = "record_dir"
    )]
    pub record: Vec<crate::proxy::Target>,
    /// Directory recorded fixtures are written to (created if missing; load it with --fixtures).
    #[arg(
        long = "record-dir",
        value_name = "DIR",
        env = "MOCKMODEL_RECORD_DIR",
        requires = "record"
    )]
    pub record_dir: Option<PathBuf>,
    /// Translate mode: answer Bedrock (Converse, ConverseStream, InvokeModel and its stream),
    /// SageMaker (InvokeEndpoint and its stream) and Anthropic Messages requests that no fixture
    /// matches with this OpenAI-compatible server (a vLLM, Ollama or OpenAI base URL such as
    /// `http://127.0.0.1:8000/v1`; `/chat/completions` is appended). Each request is converted to
    /// a chat completion (tools, tool calls and results included) and the answer back into the
    /// client's wire. OpenAI-wire requests are not translated (--proxy-unmatched relays them).
    #[arg(
        long = "upstream-openai",
        value_name = "URL",
        env = "MOCKMODEL_UPSTREAM_OPENAI",
        value_parser = crate::translate::parse_url
    )]
    pub upstream_openai: Option<String>,
    /// API key sent to --upstream-openai as `Authorization: Bearer KEY` (none by default).
    #[arg(
        long = "upstream-openai-key",
        value_name = "KEY",
        env = "MOCKMODEL_UPSTREAM_OPENAI_KEY",
        hide_env_values = true,
        requires = "upstream_openai"
    )]
    pub upstream_openai_key: Option<String>,
    /// Model name sent to --upstream-openai instead of each request's model id (or SageMaker
    /// endpoint name).
    #[arg(
        long = "upstream-openai-model",
        value_name = "NAME",
        env = "MOCKMODEL_UPSTREAM_OPENAI_MODEL",
        requires = "upstream_openai"
    )]
    pub upstream_openai_model: Option<String>,
    /// Seconds --upstream-openai may take to answer a request whole (a stream included) before
    /// the client gets the wire's timeout error.
    #[arg(
        long = "upstream-timeout",
        value_name = "SECONDS",
        env = "MOCKMODEL_UPSTREAM_TIMEOUT",
        default_value_t = 120.0,
        value_parser = seconds
    )]
    pub upstream_timeout: f64,
    /// S3-compatible endpoint (`http://127.0.0.1:9000`) where asynchronous invocations
    /// (StartAsyncInvoke, InvokeEndpointAsync) read inputs and write outputs; credentials come from
    /// the standard AWS chain (set AWS_EC2_METADATA_DISABLED=true off EC2). Without it those
    /// operations answer an error naming this flag.
    #[arg(long, value_name = "URL", env = "MOCKMODEL_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Credentials file (YAML/JSON: `aws: [{accessKeyId, secretAccessKey}]`, `bedrockApiKeys`,
    /// `openaiApiKeys`, `anthropicApiKeys`, `adminApiKeys`): every request must then be signed or
    /// carry a key as the real service requires, and is rejected in its shape otherwise.
    /// `/healthz`, `/readyz`, `/metrics` and `/ping` stay open. See docs/auth.md.
    #[arg(long, value_name = "FILE", env = "MOCKMODEL_AUTH")]
    pub auth: Option<PathBuf>,
    /// PEM certificate chain (server certificate first): serve HTTPS, offering h2 and HTTP/1.1 by
    /// ALPN, on --port (or on --tls-port beside plain HTTP on --port). Needs --tls-key. SIGHUP
    /// re-reads both files. boto3 sends a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) only over HTTPS.
    #[arg(long, value_name = "FILE", env = "MOCKMODEL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", env = "MOCKMODEL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS on this port and keep plain HTTP on --port (default: HTTPS replaces plain HTTP
    /// on --port).
    #[arg(long, env = "MOCKMODEL_TLS_PORT", requires = "tls_cert")]
    pub tls_port: Option<u16>,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e9 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

impl ServeArgs {
    /// The listen address.
    pub fn addr(&self) -> Result<SocketAddr, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        format!("{host}:{}", self.port)
            .parse()
            .or_else(|_| format!("[{host}]:{}", self.port).parse())
            .map_err(|_| {
                format!(
                    "invalid --host {:?}: expected an IP address such as 0.0.0.0 or ::",
                    self.host
                )
            })
    }

    /// `--tls-cert`/`--tls-key` loaded, with `--tls-port`'s address if given; `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<crate::serve::Tls>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let cert = crate::tls::ServerCert::load(cert, key)?;
        let addr = self
            .tls_port
            .map(|p| self.addr().map(|a| SocketAddr::new(a.ip(), p)))
            .transpose()?;
        Ok(Some(crate::serve::Tls { addr, cert }))
    }

    /// Server settings from the flags.
    pub fn config(&self) -> Config {
        Config {
            strict: self.strict,
            lenient: self.lenient,
            defaults: Defaults {
                chunk_size: usize::try_from(self.chunk_size).unwrap_or(DEFAULT_CHUNK_SIZE),
                latency_ms: self.latency_ms,
                streaming_profile: None,
            },
            max_body_bytes: self.max_body_bytes,
            journal_size: self.journal_size,
            chaos: ChaosRates {
                drop: self.chaos_drop,
                malformed: self.chaos_malformed,
                disconnect: self.chaos_disconnect,
            },
            semantic_faults: self.semantic_faults.clone(),
            sagemaker_formats: self.sagemaker_formats.clone(),
            metrics: !self.no_metrics,
            upstream: None,
            translate: None,
            s3_endpoint: self.s3_endpoint.clone(),
            auth: None,
        }
    }

    /// The upstream for --proxy-unmatched or --record, if either was given.
    pub async fn upstream(&self) -> Result<Option<crate::proxy::Upstream>, String> {
        let (targets, dir) = if self.record.is_empty() {
            (self.proxy_unmatched.clone(), None)
        } else {
            (self.record.clone(), self.record_dir.clone())
        };
        if targets.is_empty() {
            return Ok(None);
        }
        crate::proxy::Upstream::new(targets, dir).await.map(Some)
    }

    /// The --upstream-openai translator, if one was given.
    pub fn translator(&self) -> Result<Option<crate::translate::Translator>, String> {
        let Some(url) = &self.upstream_openai else {
            return Ok(None);
        };
        crate::translate::Translator::new(
            url.clone(),
            self.upstream_openai_key.clone(),
            self.upstream_openai_model.clone(),
            std::time::Duration::from_secs_f64(self.upstream_timeout),
        )
        .map(Some)
    }

    /// The `--auth` credentials, if given.
    pub fn load_auth(&self) -> Result<Option<std::sync::Arc<crate::auth::credentials::Credentials>>, String> {
        self.auth
            .as_deref()
            .map(|p| crate::auth::credentials::Credentials::load(p).map(std::sync::Arc::new))
            .transpose()
    }

    /// The fixtures to serve: the given paths, or the embedded defaults.
    pub fn load_fixtures(&self) -> Result<FixtureSet, LoadError> {
        if self.fixtures.is_empty() {
            Ok(FixtureSet::embedded())
        } else {
            load_paths(&self.fixtures)
        }
    }
}

/// Runs `validate`: prints every finding; returns the process exit code.
pub fn validate(paths: &[PathBuf]) -> i32 {
    match load_paths(paths) {
        Ok(set) => {
            for w in &set.warnings {
                eprintln!("{w}");
            }
            println!("OK: {} fixture(s) in {} file(s)", set.len(), set.files.len());
            0
        }
        Err(e) => {
            for err in &e.0 {
                eprintln!("error: {err}");
            }
            eprintln!("{} error(s); no fixtures loaded", e.0.len());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_aimock() {
        let cli = Cli::try_parse_from(["mockmodel-server"]).unwrap();
        assert_eq!(cli.serve.port, 4010);
        assert_eq!(cli.serve.addr().unwrap().to_string(), "127.0.0.1:4010");
        assert!(cli.command.is_none());
    }

    #[test]
    fn ipv6_hosts_and_validate_subcommand_parse() {
        let cli = Cli::try_parse_from(["mockmodel-server", "--host", "::", "--port", "80"]).unwrap();
        assert_eq!(cli.serve.addr().unwrap().to_string(), "[::]:80");
        let cli = Cli::try_parse_from(["mockmodel-server", "validate", "a.yaml", "dir"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Validate { paths }) if paths.len() == 2));
        assert!(Cli::try_parse_from(["mockmodel-server", "--chunk-size", "0"]).is_err());
        assert!(Cli::try_parse_from(["mockmodel-server", "--chaos-drop", "1.5"]).is_err());
        let cli = Cli::try_parse_from(["mockmodel-server", "--chaos-malformed", "0.25"]).unwrap();
        assert_eq!(cli.serve.config().chaos.malformed, 0.25);
        let cli =
            Cli::try_parse_from(["mockmodel-server", "--sagemaker-format", "llama=tgi,openai"]).unwrap();
        assert_eq!(cli.serve.config().sagemaker_formats.len(), 2);
        assert!(Cli::try_parse_from(["mockmodel-server", "--sagemaker-format", "x=gguf"]).is_err());
        let cli = Cli::try_parse_from([
            "mockmodel-server",
            "--semantic-fault",
            "refusal=0.5@2",
            "--semantic-fault",
            "emptyResponse",
        ])
        .unwrap();
        assert_eq!(cli.serve.config().semantic_faults.len(), 2);
        assert!(Cli::try_parse_from(["mockmodel-server", "--semantic-fault", "rudeness"]).is_err());
    }
}
