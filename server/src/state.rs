//! Shared server state and the one request path every protocol uses: match, plan, journal, count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::conversation::{Conversation, TEST_ID_HEADER};
use crate::ctx;
use crate::faults::{self, ChaosRates, FailFirstCounters};
use crate::fixture::schema::SemanticFault;
use crate::fixture::{FixtureSet, SequenceCounters};
use crate::history::History;
use crate::jobs::Jobs;
use crate::journal::{Entry, Journal};
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use crate::plan::{self, Defaults, Outcome};
use crate::semantic::{self, TimesCounters};

/// Server settings that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Answer unmatched requests with 503 instead of 404.
    pub strict: bool,
    /// Accept requests the real service would reject (no service-model validation).
    pub lenient: bool,
    /// Defaults fixtures can override.
    pub defaults: Defaults,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Journal capacity (0 disables it).
    pub journal_size: usize,
    /// Random fault rates applied to every matched request (fixtures and headers override).
    pub chaos: ChaosRates,
    /// Semantic faults for answers whose fixture has no `semanticFault` (`--semantic-fault`).
    pub semantic_faults: Vec<SemanticFault>,
    /// SageMaker payload format per endpoint name (`*` for all); unlisted endpoints auto-detect.
    pub sagemaker_formats: Vec<(String, crate::formats::PayloadFormat)>,
    /// Record request, fixture, fault and vLLM metrics (on unless `--no-metrics`).
    pub metrics: bool,
    /// Where requests no fixture matches go (`--proxy-unmatched`, `--record`); `None` answers them
    /// with the wire's no-match error.
    pub upstream: Option<Arc<crate::proxy::Upstream>>,
    /// The OpenAI-compatible server that answers unmatched Bedrock, SageMaker and Anthropic chat
    /// requests (`--upstream-openai`); it goes before `upstream` for the operations it serves.
    pub translate: Option<Arc<crate::translate::Translator>>,
    /// The S3-compatible store asynchronous invocations use (`--s3-endpoint`); `None`: they are refused.
    pub s3_endpoint: Option<String>,
    /// Credentials every request must carry (`--auth FILE`); `None` accepts any request.
    pub auth: Option<std::sync::Arc<crate::auth::credentials::Credentials>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strict: false,
            lenient: false,
            defaults: Defaults::default(),
            max_body_bytes: 10 * 1024 * 1024,
            journal_size: 1000,
            chaos: ChaosRates::default(),
            semantic_faults: Vec::new(),
            sagemaker_formats: Vec::new(),
            metrics: true,
            upstream: None,
            translate: None,
            s3_endpoint: None,
            auth: None,
        }
    }
}

/// Everything handlers share.
pub struct AppState {
    /// The current fixtures; swapped whole on reload so a request sees one consistent set.
    pub fixtures: ArcSwap<FixtureSet>,
    /// `sequenceIndex` counters.
    pub counters: SequenceCounters,
    /// `X-Mockmodel-Fail-First` counters.
    pub fail_first: FailFirstCounters,
    /// How often each semantic fault with `times` has been injected.
    pub semantic_times: TimesCounters,
    /// Static settings.
    pub config: Config,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Recent requests (shared with recordings that complete their entry later).
    pub journal: Arc<Journal>,
    /// Answered turns later requests may name (Responses API `previous_response_id`).
    pub history: History,
    /// Whether fixtures have been loaded (`/readyz`).
    pub ready: AtomicBool,
    /// Asynchronous invocations (StartAsyncInvoke), bounded.
    pub jobs: Jobs,
    /// Where asynchronous invocations read and write objects.
    pub objects: ObjectStore,
}

/// The state as handlers receive it: one `AppState` for the process's life, so a handle is a plain
/// reference (see [`AppState::new`]).
pub type SharedState = &'static AppState;

/// Why a request got no answer from the fixtures.
#[derive(Debug, Clone, PartialEq)]
pub struct NoMatch {
    /// Strict mode was on (503 rather than 404).
    pub strict: bool,
    /// A protocol-neutral explanation naming the request's last user message and the closest fixtures.
    pub message: String,
    /// The request's journal entry, for a forwarded answer to complete.
    pub journal_id: u64,
}

impl AppState {
    /// State serving `fixtures`, ready at once. It is never freed: a server has one for its whole
    /// life, and a reference to it is copied where an `Arc` would write its count, which every
    /// request did several times over (axum clones a route's service, with its state, per call)
    /// from every worker (issue 12's hot path). A test that builds many keeps each.
    pub fn new(fixtures: FixtureSet, config: Config) -> SharedState {
        let metrics = Arc::new(Metrics::new());
        metrics.fixtures_loaded.set(fixtures.len() as i64);
        Box::leak(Box::new(AppState {
            fixtures: ArcSwap::from_pointee(fixtures),
            counters: SequenceCounters::default(),
            fail_first: FailFirstCounters::default(),
            semantic_times: TimesCounters::default(),
            journal: Arc::new(Journal::new(config.journal_size)),
            history: History::default(),
            jobs: Jobs::default(),
            objects: ObjectStore::new(config.s3_endpoint.clone()),
            config,
            metrics,
            ready: AtomicBool::new(true),
        }))
    }

    /// The metrics to record into, or `None` when they are switched off.
    pub fn recorder(&self) -> Option<&Metrics> {
        self.config.metrics.then_some(&*self.metrics)
    }

    /// Replaces the fixtures (after a successful reload) and restarts sequences.
    pub fn replace_fixtures(&self, fixtures: FixtureSet) {
        self.metrics.fixtures_loaded.set(fixtures.len() as i64);
        self.fixtures.store(Arc::new(fixtures));
        self.counters.clear();
        self.semantic_times.clear();
        self.ready.store(true, Ordering::Release);
    }

    /// Finds the fixture for a request and plans the answer, recording the journal and metrics.
    pub fn resolve(&self, c: &Conversation, operation: &'static str) -> Result<Outcome, NoMatch> {
        let set = self.fixtures.load();
        let found = set.find(c, operation, &self.counters);
        let mut faults = Vec::new();
        let result = match found {
            Some(f) => {
                if let Some(m) = self.recorder() {
                    m.last_match.with(
                        |k| *k == f.key,
                        || {
                            (
                                f.key.clone(),
                                m.hot().fixture_matches.with_label_values(&[&*f.key]),
                            )
                        },
                        prometheus::IntCounter::inc,
                    );
                }
                Ok(self.plan(f, c, &mut faults))
            }
            None => {
                if let Some(m) = self.recorder() {
                    m.fixture_misses.with_label_values(&[c.protocol.as_str()]).inc();
                }
                Err(self.no_match(&set, c))
            }
        };
        let journal_id = self.journal.record(Entry {
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            protocol: c.protocol.as_str(),
            operation,
            model: c.model.clone(),
            stream: c.stream,
            user_message: c.last_user_text().map(str::to_string),
            test_id: c.headers.control(TEST_ID_HEADER).map(str::to_string),
            fixture: found.map(|f| f.key.clone()),
            outcome: match &result {
                Ok(Outcome::Message(_)) => "message".into(),
                Ok(Outcome::Error(e)) => format!("error {}", e.status).into(),
                Ok(Outcome::Embedding(_)) => "embedding".into(),
                Err(_) => "no_match".into(),
            },
            upstream: None,
            recorded: None,
            faults,
        });
        result.map_err(|n| NoMatch { journal_id, ..n })
    }

    /// Plans the fixture's answer, then applies faults and timing rules that hold on every protocol;
    /// the kinds of the faults injected are added to `injected` (for the journal).
    fn plan(
        &self,
        f: &crate::fixture::LoadedFixture,
        c: &Conversation,
        injected: &mut Vec<&'static str>,
    ) -> Outcome {
        let outcome = plan::build(&f.fixture, c, &self.config.defaults);
        let rates = self
            .config
            .chaos
            .with_fixture(f.fixture.chaos.as_ref())
            .with_headers(&c.headers);
        let (mut outcome, fault) = faults::apply(
            outcome,
            rates,
            &c.headers,
            c.test_id(),
            &self.fail_first,
            ctx::seed(),
        );
        if let Some(kind) = fault {
            injected.push(kind);
        }
        if let Outcome::Message(p) = &mut outcome {
            // Model misbehaviour changes the neutral plan, so every wire encodes it in its own words.
            let sources = semantic::Sources {
                fixture: f.fixture.semantic_fault.as_ref().map(|s| (&*f.key, s)),
                defaults: &self.config.semantic_faults,
            };
            if let Some(kind) = semantic::apply(p, c, sources, &self.semantic_times, ctx::seed()) {
                injected.push(kind.as_str());
                plan::recount(p, &f.fixture, c);
            }
            if !c.stream {
                // A non-streamed answer takes as long as the whole stream would have.
                p.timing.latency_ms = p.unary_delay_ms();
            }
            ctx::message_planned(&p.model, p.usage.input, p.usage.output);
        }
        if let Some(m) = self.recorder() {
            for kind in injected.iter() {
                m.faults.with_label_values(&[kind]).inc();
            }
        }
        outcome
    }

    fn no_match(&self, set: &FixtureSet, c: &Conversation) -> NoMatch {
        let asked = match c.last_user_text() {
            Some(t) if t.chars().count() > 200 => format!("{:?}…", t.chars().take(200).collect::<String>()),
            Some(t) => format!("{t:?}"),
            None => "(no user text)".into(),
        };
        let closest = set.closest(c);
        let hint = if closest.is_empty() {
            format!("{} fixture(s) loaded, none with a userMessage", set.len())
        } else {
            format!("closest fixtures: {}", closest.join("; "))
        };
        NoMatch {
            journal_id: 0,
            strict: self.config.strict,
            message: format!(
                "No fixture matched the last user message {asked} (model {:?}); {hint}",
                c.model
            ),
        }
    }
}
