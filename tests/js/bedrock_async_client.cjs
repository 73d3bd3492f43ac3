// The AWS SDK for JavaScript v3 Bedrock Runtime client's asynchronous invocation commands against
// mockmodel-server. Usage: node bedrock_async_client.cjs http://127.0.0.1:PORT BUCKET
// Starts a job writing to s3://BUCKET/js, polls GetAsyncInvoke until it leaves InProgress, lists with
// a page size of one, and prints what the SDK parsed (timestamps as the Dates it made of them);
// tests/python/test_async_invoke.py asserts on it and reads the output object back from S3.
"use strict";
const {
  BedrockRuntimeClient,
  StartAsyncInvokeCommand,
  GetAsyncInvokeCommand,
  ListAsyncInvokesCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";

async function main(endpoint, bucket) {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    maxAttempts: 1,
  });
  const started = await client.send(
    new StartAsyncInvokeCommand({
      modelId: MODEL,
      modelInput: {
        anthropic_version: "bedrock-2023-05-31",
        max_tokens: 50,
        messages: [{ role: "user", content: "write me a slow poem from javascript" }],
      },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/js` } },
      clientRequestToken: "js-token-0001",
    }),
  );
  const seen = [];
  let job;
  const deadline = Date.now() + 60000;
  do {
    job = await client.send(new GetAsyncInvokeCommand({ invocationArn: started.invocationArn }));
    seen.push(job.status);
    if (job.status !== "InProgress") break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  const page = await client.send(new ListAsyncInvokesCommand({ maxResults: 1, statusEquals: "Completed" }));
  const iso = (d) => (d instanceof Date ? d.toISOString() : `not a Date: ${d}`);
  console.log(
    JSON.stringify({
      arn: started.invocationArn,
      seen,
      job: {
        status: job.status,
        modelArn: job.modelArn,
        clientRequestToken: job.clientRequestToken,
        outputDataConfig: job.outputDataConfig,
        submitTime: iso(job.submitTime),
        endTime: iso(job.endTime),
      },
      list: {
        arns: page.asyncInvokeSummaries.map((s) => s.invocationArn),
        submitTime: iso(page.asyncInvokeSummaries[0]?.submitTime),
        nextToken: page.nextToken ?? null,
      },
    }),
  );
}

main(process.argv[2], process.argv[3]).catch((e) => {
  console.error(e);
  process.exit(1);
});
