// The AWS SDK for JavaScript v3 Bedrock Runtime client against mockmodel-server's guardrails: a
// guardrail intervention through Converse and ConverseStream, and ApplyGuardrail (intervened, none,
// unknown guardrail). Usage: node bedrock_guardrail_client.cjs http://127.0.0.1:PORT
// Prints what the SDK parsed as one JSON object; tests/python/test_bedrock_guardrails.py asserts on it.
"use strict";
const {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  ApplyGuardrailCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const guardrailConfig = { guardrailIdentifier: "gr1abc", guardrailVersion: "1", trace: "enabled" };
const messages = [{ role: "user", content: [{ text: "any stock tips?" }] }];
const apply = (text, guardrailIdentifier = "gr1abc") =>
  new ApplyGuardrailCommand({
    guardrailIdentifier,
    guardrailVersion: "1",
    source: "INPUT",
    content: [{ text: { text } }],
  });

async function main(endpoint) {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const out = {};

  const r = await client.send(new ConverseCommand({ modelId: MODEL, messages, guardrailConfig }));
  out.converse = {
    stopReason: r.stopReason,
    content: r.output.message.content,
    topics: r.trace.guardrail.inputAssessment.gr1abc.topicPolicy.topics,
  };

  const s = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages, guardrailConfig }));
  out.stream = { text: "", traced: false };
  for await (const event of s.stream) {
    if (event.contentBlockDelta) out.stream.text += event.contentBlockDelta.delta.text;
    if (event.messageStop) out.stream.stopReason = event.messageStop.stopReason;
    if (event.metadata) out.stream.traced = Boolean(event.metadata.trace.guardrail.inputAssessment.gr1abc);
  }

  const a = await client.send(apply("share some stock tips"));
  out.intervened = {
    action: a.action,
    outputs: a.outputs,
    filters: a.assessments.find((x) => x.contentPolicy).contentPolicy.filters,
  };
  const n = await client.send(apply("what a lovely day"));
  out.none = { action: n.action, outputs: n.outputs };
  try {
    await client.send(apply("share some stock tips", "nosuchguardrail"));
  } catch (e) {
    out.missing = { name: e.name, status: e.$metadata.httpStatusCode };
  }

  client.destroy();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
