//! The AWS SDK for Rust (`aws-sdk-bedrockruntime`) against the real server: every Bedrock Runtime
//! operation, asserting only on what the SDK itself parsed (events, usage, stop reasons, typed errors).

mod support;

use aws_sdk_bedrockruntime as bedrock;
use aws_smithy_types::Document;
use bedrock::error::ProvideErrorMetadata;
use bedrock::primitives::Blob;
use bedrock::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseStreamOutput,
    ReasoningContentBlock, ReasoningContentBlockDelta, ResponseStream, StopReason, Tool, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use serde_json::{Value, json};

const FIXTURES: &str = r#"
fixtures:
  - match: {model: "us.anthropic.claude-3-5-sonnet-20240620-v1:0", userMessage: "which model"}
    response: {content: "the inference profile"}
  - match: {model: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", userMessage: "which model"}
    response: {content: "the ARN"}
  - match: {userMessage: "filtered"}
    semanticFault: {kind: contentFilter}
    response: {content: "This answer gets filtered."}
  - match: {userMessage: "cut tool"}
    semanticFault: {kind: stopAtMaxTokensMidTool}
    chunkSize: 3
    response: {toolCalls: [{name: get_weather, arguments: {city: Paris}, id: call_cut}]}
  - match: {userMessage: "hello"}
    chunkSize: 5
    response: {content: "Hello! How can I help you today?", usage: {inputTokens: 11, outputTokens: 7}}
  - match: {userMessage: "weather", hasToolResult: true}
    response: {content: "It is sunny in Paris."}
  - match: {userMessage: "weather", toolName: get_weather}
    chunkSize: 6
    response: {toolCalls: [{name: get_weather, arguments: {city: Paris}, id: call_weather_1}]}
  - match: {userMessage: "think"}
    chunkSize: 10
    response: {reasoning: "Two plus two is four.", reasoningSignature: "sig-abc", content: "4"}
  - match: {userMessage: "midstream"}
    chunkSize: 4
    errorAfterChunks: 2
    response: {content: "This answer breaks halfway.", error: {type: ThrottlingException, message: "Rate exceeded mid-stream"}}
  - match: {userMessage: "truncate"}
    chunkSize: 4
    truncateAfterChunks: 2
    response: {content: "This stream breaks after two chunks."}
  - match: {userMessage: "long"}
    response: {content: "cut short", finishReason: length}
  - match: {userMessage: "raise ThrottlingException"}
    response: {error: {type: ThrottlingException, message: "Rate exceeded"}, status: 429}
  - match: {userMessage: "raise ValidationException"}
    response: {error: {type: ValidationException, message: "bad input"}}
  - match: {userMessage: "raise ResourceNotFoundException"}
    response: {error: {type: ResourceNotFoundException, message: "no such model"}}
  - match: {userMessage: "raise AccessDeniedException"}
    response: {error: {type: AccessDeniedException, message: "denied"}}
  - match: {userMessage: "raise ModelTimeoutException"}
    response: {error: {type: ModelTimeoutException, message: "too slow"}}
  - match: {userMessage: "raise ServiceUnavailableException"}
    response: {error: {type: ServiceUnavailableException, message: "down"}}
  - match: {userMessage: "raise InternalServerException"}
    response: {error: {type: InternalServerException, message: "oops"}}
  - match: {userMessage: "raise ModelNotReadyException"}
    response: {error: {type: ModelNotReadyException, message: "warming up"}}
  - match: {userMessage: "raise ModelErrorException"}
    response: {error: {type: ModelErrorException, message: "model failed"}}
  - match: {userMessage: "raise ServiceQuotaExceededException"}
    response: {error: {type: ServiceQuotaExceededException, message: "quota"}}
"#;

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn user(text: &str) -> bedrock::types::Message {
    bedrock::types::Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

fn weather_tool() -> ToolConfiguration {
    let schema = Document::Object(
        [("type".to_string(), Document::String("object".into()))]
            .into_iter()
            .collect(),
    );
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .input_schema(ToolInputSchema::Json(schema))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

/// Collects a ConverseStream as `(event name, detail)` pairs, plus the error that ended it, if any.
async fn collect(
    mut stream: bedrock::primitives::event_stream::EventReceiver<
        ConverseStreamOutput,
        bedrock::types::error::ConverseStreamOutputError,
    >,
) -> (Vec<ConverseStreamOutput>, Option<String>) {
    let mut events = Vec::new();
    loop {
        match stream.recv().await {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return (events, None),
            Err(e) => {
                let code = e.into_service_error().code().map(str::to_string);
                return (events, Some(code.unwrap_or_default()));
            }
        }
    }
}

fn name(e: &ConverseStreamOutput) -> &'static str {
    match e {
        ConverseStreamOutput::MessageStart(_) => "messageStart",
        ConverseStreamOutput::ContentBlockStart(_) => "contentBlockStart",
        ConverseStreamOutput::ContentBlockDelta(_) => "contentBlockDelta",
        ConverseStreamOutput::ContentBlockStop(_) => "contentBlockStop",
        ConverseStreamOutput::MessageStop(_) => "messageStop",
        ConverseStreamOutput::Metadata(_) => "metadata",
        _ => "unknown",
    }
}

fn text_deltas(events: &[ConverseStreamOutput]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(t)) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn converse_returns_the_fixture_text_usage_and_stop_reason() {
    let (url, _) = support::start(FIXTURES).await;
    let out = support::client(&url)
        .converse()
        .model_id(CLAUDE)
        .messages(user("hello there"))
        .send()
        .await
        .unwrap();
    let message = out.output().unwrap().as_message().unwrap();
    assert_eq!(message.role(), &ConversationRole::Assistant);
    assert_eq!(
        message.content(),
        &[ContentBlock::Text("Hello! How can I help you today?".into())]
    );
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    assert_eq!(
        (usage.input_tokens(), usage.output_tokens(), usage.total_tokens()),
        (11, 7, 18)
    );
    assert!(out.metrics().unwrap().latency_ms() >= 1);
}

#[tokio::test]
async fn converse_stream_sends_the_events_in_the_service_order_without_a_text_block_start() {
    let (url, _) = support::start(FIXTURES).await;
    let out = support::client(&url)
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("hello"))
        .send()
        .await
        .unwrap();
    let (events, error) = collect(out.stream).await;
    assert_eq!(error, None);
    let names: Vec<&str> = events.iter().map(name).collect();
    let mut expected = vec!["messageStart"];
    expected.extend(["contentBlockDelta"; 7]);
    expected.extend(["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(names, expected);
    let ConverseStreamOutput::MessageStart(start) = &events[0] else {
        unreachable!()
    };
    assert_eq!(start.role(), &ConversationRole::Assistant);
    let deltas = text_deltas(&events);
    assert_eq!(deltas[0], "Hello");
    assert_eq!(deltas.concat(), "Hello! How can I help you today?");
    let ConverseStreamOutput::MessageStop(stop) = &events[9] else {
        unreachable!()
    };
    assert_eq!(stop.stop_reason(), &StopReason::EndTurn);
    let ConverseStreamOutput::Metadata(meta) = &events[10] else {
        unreachable!()
    };
    assert_eq!(meta.usage().unwrap().total_tokens(), 18);
    assert!(meta.metrics().unwrap().latency_ms() >= 1);
}

#[tokio::test]
async fn converse_tool_use_then_tool_result_round_trip() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let ask = user("What's the weather in Paris?");
    let first = client
        .converse()
        .model_id(CLAUDE)
        .messages(ask.clone())
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    assert_eq!(first.stop_reason(), &StopReason::ToolUse);
    let reply = first.output().unwrap().as_message().unwrap().clone();
    let ContentBlock::ToolUse(call) = &reply.content()[0] else {
        panic!("expected toolUse, got {:?}", reply.content())
    };
    assert_eq!(
        (call.tool_use_id(), call.name()),
        ("call_weather_1", "get_weather")
    );
    let Document::Object(input) = call.input() else {
        panic!("input is an object")
    };
    assert_eq!(input.get("city"), Some(&Document::String("Paris".into())));

    let result = bedrock::types::Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(call.tool_use_id())
                .content(ToolResultContentBlock::Text("22C, clear".into()))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let second = client
        .converse()
        .model_id(CLAUDE)
        .messages(ask)
        .messages(reply)
        .messages(result)
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.output().unwrap().as_message().unwrap().content(),
        &[ContentBlock::Text("It is sunny in Paris.".into())]
    );
}

#[tokio::test]
async fn converse_stream_tool_use_is_a_block_start_then_input_deltas() {
    let (url, _) = support::start(FIXTURES).await;
    let out = support::client(&url)
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("weather in Paris?"))
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    let (events, _) = collect(out.stream).await;
    let ConverseStreamOutput::ContentBlockStart(start) = &events[1] else {
        panic!("expected contentBlockStart, got {:?}", events[1])
    };
    assert_eq!(start.content_block_index(), 0);
    let Some(ContentBlockStart::ToolUse(tool)) = start.start() else {
        panic!()
    };
    assert_eq!(
        (tool.tool_use_id(), tool.name()),
        ("call_weather_1", "get_weather")
    );
    let input: String = events
        .iter()
        .filter_map(|e| match e {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::ToolUse(t)) => Some(t.input().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "Paris"})
    );
    let stop = events.iter().find_map(|e| match e {
        ConverseStreamOutput::MessageStop(s) => Some(s.stop_reason().clone()),
        _ => None,
    });
    assert_eq!(stop, Some(StopReason::ToolUse));
}

#[tokio::test]
async fn reasoning_arrives_with_its_signature_streamed_and_not() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let out = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("think"))
        .send()
        .await
        .unwrap();
    let content = out.output().unwrap().as_message().unwrap().content();
    let ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) = &content[0] else {
        panic!("{content:?}")
    };
    assert_eq!(
        (r.text(), r.signature()),
        ("Two plus two is four.", Some("sig-abc"))
    );
    assert_eq!(content[1], ContentBlock::Text("4".into()));

    let out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("think"))
        .send()
        .await
        .unwrap();
    let (events, _) = collect(out.stream).await;
    let (mut text, mut signature) = (String::new(), None);
    for e in &events {
        if let ConverseStreamOutput::ContentBlockDelta(d) = e
            && let Some(ContentBlockDelta::ReasoningContent(r)) = d.delta()
        {
            assert_eq!(d.content_block_index(), 0);
            match r {
                ReasoningContentBlockDelta::Text(t) => text.push_str(t),
                ReasoningContentBlockDelta::Signature(s) => signature = Some(s.clone()),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        (text.as_str(), signature.as_deref()),
        ("Two plus two is four.", Some("sig-abc"))
    );
    assert_eq!(text_deltas(&events), vec!["4"]);
}

#[tokio::test]
async fn a_mid_stream_fixture_error_surfaces_as_the_typed_stream_exception() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("midstream"))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut deltas = Vec::new();
    let err = loop {
        match stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                deltas.push(d.delta().unwrap().as_text().unwrap().clone())
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream must end with an exception"),
            Err(e) => break e.into_service_error(),
        }
    };
    assert_eq!(deltas, vec!["This", " ans"]);
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded mid-stream"));

    // Not streamed, the same fixture fails whole, as an HTTP error.
    let err = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("midstream"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_throttling_exception());
}

#[tokio::test]
async fn max_tokens_is_the_stop_reason_of_a_length_fixture() {
    let (url, _) = support::start(FIXTURES).await;
    let out = support::client(&url)
        .converse()
        .model_id(CLAUDE)
        .messages(user("long"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
}

#[tokio::test]
async fn semantic_faults_are_what_the_sdk_parses_as_a_filter_and_a_cut_tool_call() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let out = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("filtered"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ContentFiltered);
    let Some(bedrock::types::ConverseOutput::Message(m)) = out.output() else {
        panic!()
    };
    assert_eq!(m.content(), &[ContentBlock::Text("This answer g".into())]);

    let out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("cut tool"))
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    let (events, error) = collect(out.stream).await;
    assert_eq!(error, None);
    let input: String = events
        .iter()
        .filter_map(|e| match e {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::ToolUse(t)) => Some(t.input().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // Half of `{"city":"Paris"}`: what a model stopped by its token limit leaves behind.
    assert_eq!(input, r#"{"city":"#);
    let stop = events.iter().find_map(|e| match e {
        ConverseStreamOutput::MessageStop(s) => Some(s.stop_reason().clone()),
        _ => None,
    });
    assert_eq!(stop, Some(StopReason::MaxTokens));
}

const ERRORS: &[&str] = &[
    "ThrottlingException",
    "ValidationException",
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ModelTimeoutException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelErrorException",
];

// `Unhandled` is deprecated for matching, and this test matches it on purpose: an error type the SDK
// does not know for the operation lands there, which is exactly what must not happen.
#[allow(deprecated)]
#[tokio::test]
async fn every_fixture_error_is_the_sdks_typed_error_on_every_operation() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    for &code in ERRORS {
        let prompt = format!("raise {code}");
        let e = client
            .converse()
            .model_id(CLAUDE)
            .messages(user(&prompt))
            .send()
            .await
            .unwrap_err();
        let e = e.into_service_error();
        assert!(
            !matches!(e, bedrock::operation::converse::ConverseError::Unhandled(_)),
            "Converse {code}: {e:?}"
        );
        assert_eq!(e.code(), Some(code));
        let e = client
            .converse_stream()
            .model_id(CLAUDE)
            .messages(user(&prompt))
            .send()
            .await
            .unwrap_err();
        let e = e.into_service_error();
        assert!(
            !matches!(
                e,
                bedrock::operation::converse_stream::ConverseStreamError::Unhandled(_)
            ),
            "ConverseStream {code}: {e:?}"
        );
        assert_eq!(e.code(), Some(code));
    }
    for &code in ERRORS.iter().chain(&["ServiceQuotaExceededException"]) {
        let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
            "messages": [{"role": "user", "content": format!("raise {code}")}]});
        let e = client
            .invoke_model()
            .model_id(CLAUDE)
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            !matches!(
                e,
                bedrock::operation::invoke_model::InvokeModelError::Unhandled(_)
            ),
            "InvokeModel {code}: {e:?}"
        );
        assert_eq!(e.code(), Some(code));
        let e = client
            .invoke_model_with_response_stream()
            .model_id(CLAUDE)
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(!matches!(e, bedrock::operation::invoke_model_with_response_stream::InvokeModelWithResponseStreamError::Unhandled(_)), "InvokeModelWithResponseStream {code}: {e:?}");
        assert_eq!(e.code(), Some(code));
    }
    let e = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("raise ThrottlingException"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_throttling_exception());
    assert_eq!(e.message(), Some("Rate exceeded"));
}

#[tokio::test]
async fn a_model_error_carries_the_original_status_and_the_model_it_came_from() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let e = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("raise ModelErrorException"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let bedrock::operation::converse::ConverseError::ModelErrorException(m) = e else {
        panic!("{e:?}")
    };
    assert_eq!(m.message(), Some("model failed"));
    assert_eq!(m.original_status_code(), Some(500));
    assert_eq!(m.resource_name(), Some(CLAUDE));
}

#[tokio::test]
async fn bad_requests_and_unmatched_prompts_are_typed_errors() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let e = client
        .converse()
        .model_id(CLAUDE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    assert!(e.message().unwrap().contains("messages"));
    let e = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("nothing matches this"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    assert!(e.message().unwrap().contains("nothing matches this"));
    let e = client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new("{not json"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
}

#[tokio::test]
async fn model_ids_are_percent_decoded_before_matching_and_in_the_journal() {
    let (url, state) = support::start(FIXTURES).await;
    let client = support::client(&url);
    for (id, answer) in [
        (
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "the inference profile",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
            "the ARN",
        ),
    ] {
        let out = client
            .converse()
            .model_id(id)
            .messages(user("which model"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.output().unwrap().as_message().unwrap().content(),
            &[ContentBlock::Text(answer.into())]
        );
    }
    let models: Vec<String> = state.journal.snapshot().into_iter().map(|e| e.model).collect();
    assert_eq!(
        models[0], "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "the SDK sends %3A; the journal must show ':'"
    );
    let metrics = state.metrics.render();
    assert!(
        metrics.contains(r#"method="POST",model="us.anthropic.claude-3-5-sonnet-20240620-v1:0",route="/model/{model_id}/converse",status="200""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_tool_use_block_in_history_decodes() {
    // The assistant's earlier toolUse must be accepted as history (and counted as a turn).
    let (url, _) = support::start(FIXTURES).await;
    let call = ToolUseBlock::builder()
        .tool_use_id("t1")
        .name("get_weather")
        .input(Document::Object(Default::default()))
        .build()
        .unwrap();
    let assistant = bedrock::types::Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::ToolUse(call))
        .build()
        .unwrap();
    let out = support::client(&url)
        .converse()
        .model_id(CLAUDE)
        .messages(user("hi"))
        .messages(assistant)
        .messages(user("hello again"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
}

/// One InvokeModel request per family, the text each family's response carries, and the stream
/// chunk field holding text.
fn family_cases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]}),
        ),
        (
            "us.amazon.nova-lite-v1:0",
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hello"}]}],
                   "inferenceConfig": {"max_new_tokens": 50}}),
        ),
        (
            "amazon.titan-text-express-v1",
            json!({"inputText": "User: hello\nBot:", "textGenerationConfig": {"maxTokenCount": 50}}),
        ),
        (
            "meta.llama3-8b-instruct-v1:0",
            json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "max_gen_len": 50}),
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            json!({"prompt": "<s>[INST] hello [/INST]", "max_tokens": 50}),
        ),
        (
            "mistral.mistral-large-2407-v1:0",
            json!({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}),
        ),
        (
            "cohere.command-r-v1:0",
            json!({"message": "hello", "chat_history": [], "max_tokens": 50}),
        ),
    ]
}

/// The generated text in a family's (non-streamed) response body.
fn body_text(body: &Value) -> String {
    let candidates = [
        &body["content"][0]["text"],
        &body["output"]["message"]["content"][0]["text"],
        &body["results"][0]["outputText"],
        &body["generation"],
        &body["outputs"][0]["text"],
        &body["choices"][0]["message"]["content"],
        &body["text"],
    ];
    candidates
        .iter()
        .find_map(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The generated text in one decoded stream chunk of any family.
fn chunk_text(event: &Value) -> String {
    let candidates = [
        &event["delta"]["text"],
        &event["contentBlockDelta"]["delta"]["text"],
        &event["outputText"],
        &event["generation"],
        &event["outputs"][0]["text"],
        &event["choices"][0]["message"]["content"],
    ];
    if event["event_type"] == "text-generation" {
        return event["text"].as_str().unwrap_or_default().to_string();
    }
    candidates
        .iter()
        .find_map(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn invoke_model_answers_every_family_in_its_own_body_shape() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    for (model, request) in family_cases() {
        let out = client
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(request.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{model}: {e:?}"));
        assert_eq!(out.content_type(), "application/json");
        let body: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
        assert_eq!(
            body_text(&body),
            "Hello! How can I help you today?",
            "{model}: {body}"
        );
    }
}

#[tokio::test]
async fn invoke_stream_chunks_carry_each_familys_own_events_with_invocation_metrics_last() {
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    for (model, request) in family_cases() {
        let out = client
            .invoke_model_with_response_stream()
            .model_id(model)
            .body(Blob::new(request.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{model}: {e:?}"));
        assert_eq!(out.content_type(), "application/json");
        let mut stream = out.body;
        let mut events = Vec::new();
        while let Some(e) = stream.recv().await.unwrap() {
            let ResponseStream::Chunk(part) = e else {
                panic!("{model}: {e:?}")
            };
            events.push(serde_json::from_slice::<Value>(part.bytes().unwrap().as_ref()).unwrap());
        }
        let text: String = events.iter().map(chunk_text).collect();
        assert_eq!(text, "Hello! How can I help you today?", "{model}: {events:?}");
        let metrics = &events.last().unwrap()["amazon-bedrock-invocationMetrics"];
        assert_eq!(metrics["inputTokenCount"], 11, "{model}");
        assert_eq!(metrics["outputTokenCount"], 7, "{model}");
        assert!(
            events[..events.len() - 1]
                .iter()
                .all(|e| e.get("amazon-bedrock-invocationMetrics").is_none())
        );
    }
}

#[tokio::test]
async fn anthropic_invoke_stream_is_the_messages_event_sequence() {
    let (url, _) = support::start(FIXTURES).await;
    let request = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let out = support::client(&url)
        .invoke_model_with_response_stream()
        .model_id("us.anthropic.claude-3-5-sonnet-20240620-v1:0")
        .body(Blob::new(request.to_string()))
        .send()
        .await
        .unwrap();
    let mut stream = out.body;
    let mut events = Vec::new();
    while let Some(ResponseStream::Chunk(part)) = stream.recv().await.unwrap() {
        events.push(serde_json::from_slice::<Value>(part.bytes().unwrap().as_ref()).unwrap());
    }
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["message_start", "content_block_start"]);
    assert_eq!(
        types[types.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert_eq!(
        events[1]["content_block"],
        json!({"type": "tool_use", "id": "call_weather_1", "name": "get_weather", "input": {}})
    );
    let input: String = events
        .iter()
        .filter(|e| e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(events[types.len() - 2]["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn a_mid_stream_error_on_invoke_stream_is_the_typed_stream_exception() {
    let (url, _) = support::start(FIXTURES).await;
    let request = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "midstream"}]});
    let out = support::client(&url)
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .body(Blob::new(request.to_string()))
        .send()
        .await
        .unwrap();
    let mut stream = out.body;
    let mut chunks = 0;
    let err = loop {
        match stream.recv().await {
            Ok(Some(_)) => chunks += 1,
            Ok(None) => panic!("the stream must end with an exception"),
            Err(e) => break e.into_service_error(),
        }
    };
    // message_start, content_block_start, then the two text deltas.
    assert_eq!(chunks, 4);
    assert!(err.is_throttling_exception(), "{err:?}");
}

#[tokio::test]
async fn a_truncated_stream_is_a_broken_stream_not_a_service_error() {
    let (url, state) = support::start(FIXTURES).await;
    let out = support::client(&url)
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user("truncate"))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut deltas = Vec::new();
    let err = loop {
        match stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                deltas.push(d.delta().unwrap().as_text().unwrap().clone())
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("a truncated stream must not end cleanly"),
            Err(e) => break e,
        }
    };
    assert_eq!(deltas, vec!["This", " str"]);
    assert!(
        !matches!(err, bedrock::error::SdkError::ServiceError(_)),
        "truncation is a transport failure: {err:?}"
    );
    // Errors are counted per operation and model like successes.
    let e = support::client(&url)
        .converse()
        .model_id(CLAUDE)
        .messages(user("raise ThrottlingException"))
        .send()
        .await;
    assert!(e.is_err());
    let metrics = state.metrics.render();
    assert!(
        metrics.contains(&format!(
            r#"model="{CLAUDE}",route="/model/{{model_id}}/converse",status="429""#
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn count_tokens_agrees_with_the_next_converse_usage() {
    use bedrock::types::{ConverseTokensRequest, CountTokensInput, SystemContentBlock};
    let (url, _) = support::start(FIXTURES).await;
    let client = support::client(&url);
    let system = SystemContentBlock::Text("You are terse.".into());
    let request = ConverseTokensRequest::builder()
        .messages(user("think about it"))
        .system(system.clone())
        .build();
    let counted = client
        .count_tokens()
        .model_id(CLAUDE)
        .input(CountTokensInput::Converse(request))
        .send()
        .await
        .unwrap();
    let answered = client
        .converse()
        .model_id(CLAUDE)
        .messages(user("think about it"))
        .system(system)
        .send()
        .await
        .unwrap();
    assert!(counted.input_tokens() > 0);
    assert_eq!(counted.input_tokens(), answered.usage().unwrap().input_tokens());
}
