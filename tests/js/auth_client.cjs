// The AWS SDK for JavaScript v3 Bedrock Runtime client against mockmodel-server started with
// --auth. Usage: node auth_client.cjs http://127.0.0.1:PORT
// Prints what the SDK parsed (text, or the exception's name/message/status) as one JSON object;
// tests/python/test_auth.py asserts on it. Keys match test_auth.py's credentials file.
"use strict";
const {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const AKID = "AKIAMOCKMODELTEST01";
const SECRET = "mockmodel/secret+key/for+tests0000000000";
const BEDROCK_KEY = "ABSKbW9ja21vZGVsLXRlc3Qta2V5";
const input = (text) => ({ modelId: MODEL, messages: [{ role: "user", content: [{ text }] }] });

function client(endpoint, credentials, extra = {}) {
  // No requestHandler given: the client's default, an HTTP/2-only handler (h2c on http://), so
  // the signed `host` is the request's :authority.
  return new BedrockRuntimeClient({ endpoint, region: "us-east-1", credentials, maxAttempts: 1, ...extra });
}

async function failure(c, text = "hello") {
  try {
    await c.send(new ConverseCommand(input(text)));
    return null;
  } catch (e) {
    return { name: e.name, message: e.message, status: e.$metadata && e.$metadata.httpStatusCode };
  } finally {
    c.destroy();
  }
}

async function main(endpoint) {
  const out = {};
  const good = client(endpoint, { accessKeyId: AKID, secretAccessKey: SECRET });
  const r = await good.send(new ConverseCommand(input("hello")));
  out.converse = r.output.message.content[0].text;
  const s = await good.send(new ConverseStreamCommand(input("hello")));
  out.stream = "";
  for await (const event of s.stream) if (event.contentBlockDelta) out.stream += event.contentBlockDelta.delta.text;
  good.destroy();

  out.wrongSecret = await failure(client(endpoint, { accessKeyId: AKID, secretAccessKey: SECRET + "x" }));
  out.unknownKey = await failure(client(endpoint, { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: SECRET }));
  // systemClockOffset shifts the SDK's signing clock: sign 10 minutes in the past.
  out.expired = await failure(
    client(endpoint, { accessKeyId: AKID, secretAccessKey: SECRET }, { systemClockOffset: -10 * 60 * 1000 }),
  );

  // A body changed after the signer ran (finalizeRequest runs after signing).
  const tampered = client(endpoint, { accessKeyId: AKID, secretAccessKey: SECRET });
  tampered.middlewareStack.addRelativeTo(
    (next) => async (args) => {
      args.request.body = args.request.body.replace("hello", "HELLO");
      return next(args);
    },
    { relation: "after", toMiddleware: "awsAuthMiddleware", name: "tamperAfterSigning", override: true },
  );
  out.tampered = await failure(tampered);

  // A Bedrock API key the way the SDK reads it from the environment.
  process.env.AWS_BEARER_TOKEN_BEDROCK = BEDROCK_KEY;
  const bearer = new BedrockRuntimeClient({ endpoint, region: "us-east-1", maxAttempts: 1 });
  const b = await bearer.send(new ConverseCommand(input("hello")));
  out.bearer = b.output.message.content[0].text;
  bearer.destroy();

  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
