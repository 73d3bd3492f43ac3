// Nova Sonic sessions through the AWS SDK for JavaScript v3's InvokeModelWithBidirectionalStreamCommand
// (its default HTTP/2 handler, i.e. h2c prior knowledge on http://), against mockmodel-server.
// Usage: node nova_sonic_client.cjs http://127.0.0.1:PORT
// Runs several sessions and prints what the SDK parsed as one JSON object; tests/python/test_nova_sonic.py
// asserts on it. Events are built as AWS's Nova Sonic samples build them.
"use strict";
const { randomUUID } = require("node:crypto");
const {
  BedrockRuntimeClient,
  InvokeModelWithBidirectionalStreamCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "amazon.nova-sonic-v1:0";
const AUDIO_IN = {
  mediaType: "audio/lpcm", sampleRateHertz: 16000, sampleSizeBits: 16, channelCount: 1,
  audioType: "SPEECH", encoding: "base64",
};
const AUDIO_OUT = { ...AUDIO_IN, sampleRateHertz: 24000, voiceId: "matthew" };

// An async-iterable queue: the request body the SDK reads while the test writes to it.
class Input {
  constructor() { this.items = []; this.waiting = null; this.closed = false; }
  push(event) { this.items.push({ chunk: { bytes: Buffer.from(JSON.stringify({ event })) } }); this.wake(); }
  close() { this.closed = true; this.wake(); }
  wake() { if (this.waiting) { const w = this.waiting; this.waiting = null; w(); } }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.items.length) { yield this.items.shift(); continue; }
      if (this.closed) return;
      await new Promise((r) => (this.waiting = r));
    }
  }
}

// 32 ms of 16 kHz mono 16-bit audio: a 300 Hz tone (speech) or zeros (silence), base64.
function audioChunk(speech) {
  const samples = 512;
  const b = Buffer.alloc(samples * 2);
  if (speech) for (let i = 0; i < samples; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 16000)), i * 2);
  return b.toString("base64");
}

// Opens a session (sessionStart, promptStart, system prompt) and hands each parsed output event to
// `onEvent(name, body, session)`; resolves with what was seen when the output stream ends.
async function session(client, system, start, onEvent, tools) {
  const input = new Input();
  const prompt = randomUUID();
  const s = { input, prompt, events: [], audioBytes: {}, texts: [], error: null };
  input.push({ sessionStart: { inferenceConfiguration: { maxTokens: 1024, topP: 0.9, temperature: 0.7 } } });
  input.push({
    promptStart: {
      promptName: prompt,
      textOutputConfiguration: { mediaType: "text/plain" },
      audioOutputConfiguration: AUDIO_OUT,
      toolUseOutputConfiguration: { mediaType: "application/json" },
      toolConfiguration: { tools: tools || [] },
    },
  });
  const sys = randomUUID();
  input.push({ contentStart: { promptName: prompt, contentName: sys, type: "TEXT", interactive: true, role: "SYSTEM", textInputConfiguration: { mediaType: "text/plain" } } });
  input.push({ textInput: { promptName: prompt, contentName: sys, content: system } });
  input.push({ contentEnd: { promptName: prompt, contentName: sys } });
  s.end = () => {
    input.push({ promptEnd: { promptName: prompt } });
    input.push({ sessionEnd: {} });
    input.close();
  };
  s.userText = (text) => {
    const c = randomUUID();
    input.push({ contentStart: { promptName: prompt, contentName: c, type: "TEXT", interactive: true, role: "USER", textInputConfiguration: { mediaType: "text/plain" } } });
    input.push({ textInput: { promptName: prompt, contentName: c, content: text } });
    input.push({ contentEnd: { promptName: prompt, contentName: c } });
  };
  s.userAudio = (chunks) => {
    if (!s.audioContent) {
      s.audioContent = randomUUID();
      input.push({ contentStart: { promptName: prompt, contentName: s.audioContent, type: "AUDIO", interactive: true, role: "USER", audioInputConfiguration: AUDIO_IN } });
    }
    for (const speech of chunks) input.push({ audioInput: { promptName: prompt, contentName: s.audioContent, content: audioChunk(speech) } });
  };
  start(s);
  let contentRole = {};
  try {
    // The SDK may surface an exception sent first in the stream from send() itself.
    const res = await client.send(new InvokeModelWithBidirectionalStreamCommand({ modelId: MODEL, body: input }));
    s.httpStatus = res.$metadata.httpStatusCode;
    s.requestId = res.$metadata.requestId;
    for await (const part of res.body) {
      const doc = JSON.parse(Buffer.from(part.chunk.bytes).toString("utf8"));
      const [name, body] = Object.entries(doc.event)[0];
      const entry = { name };
      for (const k of ["type", "role", "stopReason", "toolName", "toolUseId", "content"]) if (k in body && !(name === "audioOutput" && k === "content")) entry[k] = body[k];
      if (body.additionalModelFields) entry.stage = JSON.parse(body.additionalModelFields).generationStage;
      if (body.audioOutputConfiguration) entry.audioOutputConfiguration = body.audioOutputConfiguration;
      if (name === "usageEvent") entry.totalTokens = body.totalTokens;
      entry.ids = [body.sessionId, body.promptName, body.completionId].every(Boolean) && body.promptName === prompt;
      if (name === "contentStart") contentRole[body.contentId] = { role: body.role, stage: entry.stage };
      // contentEnd names neither role nor stage: the client knows them from the contentStart.
      const started = contentRole[body.contentId] || {};
      if (name === "contentEnd") Object.assign(entry, { role: started.role, stage: started.stage });
      if (name === "audioOutput") {
        s.audioBytes[body.contentId] = (s.audioBytes[body.contentId] || 0) + Buffer.from(body.content, "base64").length;
      }
      if (name === "textOutput") s.texts.push({ role: body.role, stage: started.stage, content: body.content });
      s.events.push(entry);
      await onEvent(name, { ...body, role: body.role || started.role }, s);
    }
  } catch (e) {
    s.error = { name: e.name, message: e.message };
    input.close();
  }
  // Audio events are many: keep one of each run so the order stays readable.
  s.order = s.events.map((e) => e.name + (e.type ? ":" + e.type : "") + (e.stopReason ? ":" + e.stopReason : "")).filter((n, i, a) => n !== "audioOutput" || a[i - 1] !== "audioOutput");
  s.audioOutputs = s.events.filter((e) => e.name === "audioOutput").length;
  delete s.input;
  delete s.end;
  delete s.userText;
  delete s.userAudio;
  return s;
}

const isFinalEnd = (name, body) => name === "contentEnd" && body.type === "TEXT" && body.stopReason !== "PARTIAL_TURN";

const speechThenSilence = () => [...Array(10).fill(true), ...Array(25).fill(false)];

async function main(endpoint) {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const out = { handler: client.config.requestHandler.constructor.name };

  // A text turn: the assistant's text, spoken.
  out.text = await session(client, "You are a friendly assistant.", (s) => s.userText("hello"), async (name, body, s) => {
    if (name === "usageEvent") s.end();
  });

  // A tool round trip: toolUse, then the toolResult continues the turn.
  const tools = [{ toolSpec: { name: "get_weather", description: "Weather for a city", inputSchema: { json: JSON.stringify({ type: "object", properties: { city: { type: "string" } } }) } } }];
  out.tool = await session(client, "You are a weather assistant.", (s) => s.userText("what is the weather in Paris"), async (name, body, s) => {
    if (name === "toolUse") {
      const c = randomUUID();
      s.input.push({ contentStart: { promptName: s.prompt, contentName: c, interactive: false, type: "TOOL", role: "TOOL", toolResultInputConfiguration: { toolUseId: body.toolUseId, type: "TEXT", textInputConfiguration: { mediaType: "text/plain" } } } });
      s.input.push({ toolResult: { promptName: s.prompt, contentName: c, content: JSON.stringify({ forecast: "sunny" }) } });
      s.input.push({ contentEnd: { promptName: s.prompt, contentName: c } });
    }
    if (isFinalEnd(name, body) && body.role === "ASSISTANT") s.end();
  }, tools);

  // An audio turn: speech then silence ends the turn; the fixture declares the transcript.
  out.audio = await session(client, "You are an audio assistant.", (s) => s.userAudio(speechThenSilence()), async (name, body, s) => {
    if (isFinalEnd(name, body) && body.role === "ASSISTANT") {
      s.input.push({ contentEnd: { promptName: s.prompt, contentName: s.audioContent } });
      s.end();
    }
  });

  // Barge-in: the user speaks again while the assistant's audio is still being sent.
  let interrupted = false;
  out.bargeIn = await session(client, "You are a long talker.", (s) => s.userAudio(speechThenSilence()), async (name, body, s) => {
    if (name === "audioOutput" && !interrupted) {
      interrupted = true;
      s.userAudio([true, true, true, true, true]);
    }
    if (name === "contentEnd" && body.type === "TEXT" && body.stopReason === "INTERRUPTED") s.end();
  });

  // An in-stream error: the fixture throttles the turn.
  out.error = await session(client, "You are a friendly assistant.", (s) => s.userText("throttle me"), async () => {});

  client.destroy();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
