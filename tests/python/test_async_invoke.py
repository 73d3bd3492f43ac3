"""Asynchronous invocations with boto3 against mockmodel-server and a real S3-compatible server
(moto's, started by conftest): Bedrock's StartAsyncInvoke / GetAsyncInvoke / ListAsyncInvokes and
SageMaker's InvokeEndpointAsync. Each test asserts what boto3 parsed and reads the objects the jobs
wrote back from the S3 server with boto3.

No wall-clock assertions: a job is polled until it leaves InProgress (with a generous bound that only
guards against a hang)."""
import datetime
import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from conftest import S3_ENV, Server, FIXTURES, run_node

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
REEL = "amazon.nova-reel-v1:1"


@pytest.fixture
def bedrock(async_server):
    async_server.reset()
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=async_server.url,
        config=Config(retries={"total_max_attempts": 1}),
        **CREDS,
    )


@pytest.fixture
def s3(s3_server):
    return boto3.client("s3", endpoint_url=s3_server, **CREDS)


@pytest.fixture
def bucket(s3):
    name = f"out-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def claude_input(text):
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }


def wait_done(bedrock, arn, seen=None):
    """Polls GetAsyncInvoke until the job leaves InProgress; records every status seen."""
    deadline = time.monotonic() + 60
    while True:
        job = bedrock.get_async_invoke(invocationArn=arn)
        if seen is not None:
            seen.append(job["status"])
        if job["status"] != "InProgress" or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def start(bedrock, bucket, text, model=CLAUDE, **kw):
    return bedrock.start_async_invoke(
        modelId=model,
        modelInput=claude_input(text) if model == CLAUDE else kw.pop("model_input"),
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/jobs"}},
        **kw,
    )["invocationArn"]


def test_a_job_runs_in_progress_then_completed_and_writes_its_output(bedrock, s3, bucket):
    arn = start(bedrock, bucket, "write me a slow poem")
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:async-invoke/")
    seen = []
    job = wait_done(bedrock, arn, seen)
    # The fixture's 1.5 s latency keeps the first poll (sent right after the start) InProgress.
    assert seen[0] == "InProgress"
    assert job["status"] == "Completed"
    assert job["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"
    assert job["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/jobs"}}
    assert job["endTime"] >= job["submitTime"]
    assert "failureMessage" not in job
    job_id = arn.rsplit("/", 1)[1]
    body = json.loads(s3.get_object(Bucket=bucket, Key=f"jobs/{job_id}/output.json")["Body"].read())
    # The Anthropic family's InvokeModel response body.
    assert body["type"] == "message"
    assert body["content"][0]["text"] == "Roses are red, the job is done."
    assert body["usage"]["output_tokens"] > 0


def test_a_media_model_job_answers_its_prompt_text(bedrock, s3, bucket):
    model_input = {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat on wheels"},
                   "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720"}}
    arn = start(bedrock, bucket, None, model=REEL, model_input=model_input)
    assert wait_done(bedrock, arn)["status"] == "Completed"
    key = f"jobs/{arn.rsplit('/', 1)[1]}/output.json"
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == {
        "outputText": "A cat rides a skateboard."
    }


def test_a_model_failure_fails_the_job_with_the_fixture_message(bedrock, s3, bucket):
    arn = start(bedrock, bucket, "model crash please")
    job = wait_done(bedrock, arn)
    assert job["status"] == "Failed"
    assert job["failureMessage"] == "The model crashed"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_an_unwritable_output_fails_the_job_naming_the_store_error(bedrock):
    arn = start(bedrock, "no-such-bucket-here", "hello")
    job = wait_done(bedrock, arn)
    assert job["status"] == "Failed"
    assert "NoSuchBucket" in job["failureMessage"]


def test_the_javascript_sdk_starts_polls_and_lists_a_job(async_server, s3, bucket):
    async_server.reset()
    out = run_node("bedrock_async_client.cjs", async_server.url, bucket)
    assert out["seen"][0] == "InProgress" and out["job"]["status"] == "Completed"
    assert out["job"]["clientRequestToken"] == "js-token-0001"
    assert out["job"]["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"
    assert out["job"]["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/js"}}
    # The SDK made Dates of the ISO 8601 timestamps.
    assert out["job"]["endTime"] >= out["job"]["submitTime"] > "2020-"
    assert out["list"] == {"arns": [out["arn"]], "submitTime": out["job"]["submitTime"], "nextToken": None}
    key = f"js/{out['arn'].rsplit('/', 1)[1]}/output.json"
    body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert body["content"][0]["text"] == "Roses are red, the job is done."


@pytest.mark.parametrize(
    "text,exception",
    [
        ("too many jobs", "ThrottlingException"),
        ("no permission", "AccessDeniedException"),
        ("busy service", "ServiceUnavailableException"),
        ("over quota", "ServiceQuotaExceededException"),
        ("conflicting", "ConflictException"),
        ("broken inside", "InternalServerException"),
        ("missing model", "ResourceNotFoundException"),
        ("invalid job", "ValidationException"),
    ],
)
def test_every_error_start_async_invoke_lists_arrives_as_boto3s_typed_exception(bedrock, bucket, text, exception):
    with pytest.raises(getattr(bedrock.exceptions, exception)) as e:
        start(bedrock, bucket, text)
    assert e.value.response["Error"]["Code"] == exception


def test_a_client_request_token_is_idempotent_and_a_reused_token_with_another_request_conflicts(bedrock, bucket):
    token = uuid.uuid4().hex
    first = start(bedrock, bucket, "hello", clientRequestToken=token)
    assert start(bedrock, bucket, "hello", clientRequestToken=token) == first
    assert bedrock.get_async_invoke(invocationArn=first)["clientRequestToken"] == token
    with pytest.raises(bedrock.exceptions.ConflictException):
        start(bedrock, bucket, "something else", clientRequestToken=token)
    assert len(bedrock.list_async_invokes()["asyncInvokeSummaries"]) == 1


def test_requests_are_validated_as_the_service_model_states(bedrock, bucket):
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.start_async_invoke(
            modelId=CLAUDE,
            modelInput=claude_input("hi"),
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "http://not-s3/x"}},
        )
    assert "outputDataConfig.s3OutputDataConfig.s3Uri" in str(e.value)
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/nope")
    assert "invocationArn" in str(e.value)
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdefabcdef")
    assert "not found" in str(e.value)
    # botocore checks maxResults' range itself; the raw query reaches the server's own check.
    raw = boto3.client(
        "bedrock-runtime",
        endpoint_url=bedrock.meta.endpoint_url,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
        **CREDS,
    )
    with pytest.raises(raw.exceptions.ValidationException) as e:
        raw.start_async_invoke(modelId=CLAUDE, outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/x"}})
    assert "Value null at 'modelInput' failed to satisfy constraint: Member must not be null" in str(e.value)
    with pytest.raises(raw.exceptions.ValidationException) as e:
        raw.start_async_invoke(modelId=CLAUDE, modelInput=claude_input("hi"), outputDataConfig={})
    assert "'outputDataConfig' failed to satisfy constraint: Member must have exactly one member set" in str(e.value)
    with pytest.raises(raw.exceptions.ValidationException) as e:
        raw.list_async_invokes(maxResults=0)
    assert "'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1" in str(e.value)
    with pytest.raises(raw.exceptions.ValidationException) as e:
        raw.list_async_invokes(statusEquals="Running")
    assert "statusEquals" in str(e.value)


def test_list_async_invokes_filters_sorts_and_paginates(bedrock, bucket):
    arns = [start(bedrock, bucket, f"hello {i}") for i in range(5)]
    for arn in arns:
        wait_done(bedrock, arn)
    failed = start(bedrock, bucket, "model crash again")
    wait_done(bedrock, failed)

    listed = bedrock.list_async_invokes()["asyncInvokeSummaries"]
    # Newest first by default.
    assert [j["invocationArn"] for j in listed] == [failed, *reversed(arns)]
    assert [j["invocationArn"] for j in bedrock.list_async_invokes(statusEquals="Failed")["asyncInvokeSummaries"]] == [failed]
    done = bedrock.list_async_invokes(statusEquals="Completed", sortOrder="Ascending")["asyncInvokeSummaries"]
    assert [j["invocationArn"] for j in done] == arns
    assert all(j["status"] == "Completed" and "endTime" in j for j in done)

    first = bedrock.list_async_invokes(maxResults=2, sortBy="SubmissionTime", sortOrder="Ascending")
    assert [j["invocationArn"] for j in first["asyncInvokeSummaries"]] == arns[:2]
    second = bedrock.list_async_invokes(maxResults=2, sortOrder="Ascending", nextToken=first["nextToken"])
    assert [j["invocationArn"] for j in second["asyncInvokeSummaries"]] == arns[2:4]

    # A job started between two pages shifts neither (newest first, the token names the next job).
    newest = bedrock.list_async_invokes(maxResults=2)
    extra = start(bedrock, bucket, "hello again")
    rest = bedrock.list_async_invokes(maxResults=10, nextToken=newest["nextToken"])["asyncInvokeSummaries"]
    assert [j["invocationArn"] for j in rest] == list(reversed(arns))[1:]
    wait_done(bedrock, extra)
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.list_async_invokes(nextToken="no-such-job")

    pages = bedrock.get_paginator("list_async_invokes").paginate(
        sortOrder="Ascending", PaginationConfig={"PageSize": 4}
    )
    assert [j["invocationArn"] for p in pages for j in p["asyncInvokeSummaries"]] == [*arns, failed, extra]

    # Submission-time bounds: a day either side of the jobs holds all of them or none.
    now = done[0]["submitTime"]
    day = datetime.timedelta(days=1)
    in_window = bedrock.list_async_invokes(submitTimeAfter=now - day, submitTimeBefore=now + day)
    assert len(in_window["asyncInvokeSummaries"]) == 7
    assert bedrock.list_async_invokes(submitTimeAfter=now + day)["asyncInvokeSummaries"] == []
    assert bedrock.list_async_invokes(submitTimeBefore=now - day)["asyncInvokeSummaries"] == []


@pytest.mark.parametrize(
    "context,exception",
    [
        ("denied", "AccessDeniedException"),
        ("throttled", "ThrottlingException"),
        ("broken", "InternalServerException"),
        ("invalid", "ValidationException"),
    ],
)
def test_every_error_get_and_list_async_invokes_list_arrives_as_boto3s_typed_exception(bedrock, bucket, context, exception):
    arn = start(bedrock, bucket, "hello")

    def add_context(request, **_):
        request.headers["X-AIMock-Context"] = context

    bedrock.meta.events.register("before-sign.bedrock-runtime.GetAsyncInvoke", add_context)
    bedrock.meta.events.register("before-sign.bedrock-runtime.ListAsyncInvokes", add_context)
    with pytest.raises(getattr(bedrock.exceptions, exception)) as e:
        bedrock.get_async_invoke(invocationArn=arn)
    assert e.value.response["Error"]["Code"] == exception
    with pytest.raises(getattr(bedrock.exceptions, exception)) as e:
        bedrock.list_async_invokes()
    assert e.value.response["Error"]["Code"] == exception


def test_without_an_s3_endpoint_async_operations_answer_a_clear_error():
    s = Server("--fixtures", str(FIXTURES), env=S3_ENV)
    try:
        client = boto3.client("bedrock-runtime", endpoint_url=s.url, **CREDS)
        with pytest.raises(client.exceptions.ValidationException) as e:
            client.start_async_invoke(
                modelId=CLAUDE,
                modelInput=claude_input("hello"),
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/x"}},
            )
        assert "--s3-endpoint" in str(e.value)
        assert client.list_async_invokes()["asyncInvokeSummaries"] == []
    finally:
        s.stop()


@pytest.fixture
def sagemaker(async_server):
    async_server.reset()
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=async_server.url,
        config=Config(retries={"total_max_attempts": 1}),
        **CREDS,
    )


def put_input(s3, bucket, text, key="in/request.json"):
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"messages": [{"role": "user", "content": text}]}))
    return f"s3://{bucket}/{key}"


def split(uri):
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key


def wait_object(s3, uri):
    """Polls the S3 server until the object exists (bounded only against a hang); returns its JSON."""
    bucket, key = split(uri)
    deadline = time.monotonic() + 60
    while True:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_invoke_endpoint_async_reads_its_input_from_s3_and_writes_the_output_location(sagemaker, s3, bucket):
    res = sagemaker.invoke_endpoint_async(
        EndpointName="llama-async",
        InputLocation=put_input(s3, bucket, "tell me something"),
        ContentType="application/json",
        InferenceId="my-inference-1",
    )
    assert res["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert res["InferenceId"] == "my-inference-1"
    assert res["OutputLocation"] == f"s3://{bucket}/async-output/my-inference-1.out"
    assert res["FailureLocation"] == f"s3://{bucket}/async-failures/my-inference-1-error.out"
    # The fixture's 1.5 s latency: nothing is written yet right after the call.
    out_bucket, out_key = split(res["OutputLocation"])
    assert s3.list_objects_v2(Bucket=out_bucket, Prefix=out_key).get("KeyCount", 0) == 0
    body = wait_object(s3, res["OutputLocation"])
    # The OpenAI chat format the input was written in.
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "The asynchronous answer."
    fail_bucket, fail_key = split(res["FailureLocation"])
    assert s3.list_objects_v2(Bucket=fail_bucket, Prefix=fail_key).get("KeyCount", 0) == 0


def test_invoke_endpoint_async_writes_a_model_failure_to_the_failure_location(sagemaker, s3, bucket):
    res = sagemaker.invoke_endpoint_async(
        EndpointName="llama-async",
        InputLocation=put_input(s3, bucket, "container crash now"),
        S3OutputPathExtension="runs/7",
    )
    assert res["OutputLocation"].startswith(f"s3://{bucket}/async-output/runs/7/")
    failure = wait_object(s3, res["FailureLocation"])
    assert failure["ErrorCode"] == "ModelError"
    assert failure["OriginalMessage"] == "The container crashed"
    assert failure["OriginalStatusCode"] == 500


def test_invoke_endpoint_async_fails_an_unreadable_input_to_the_failure_location(sagemaker, bucket, s3):
    res = sagemaker.invoke_endpoint_async(EndpointName="llama-async", InputLocation=f"s3://{bucket}/missing.json")
    failure = wait_object(s3, res["FailureLocation"])
    assert "NoSuchKey" in failure["Message"]


@pytest.mark.parametrize(
    "text,exception",
    [("service down", "ServiceUnavailable"), ("internal trouble", "InternalFailure"), ("bad request", "ValidationError")],
)
def test_every_error_invoke_endpoint_async_lists_arrives_as_boto3s_typed_exception(sagemaker, s3, bucket, text, exception):
    with pytest.raises(getattr(sagemaker.exceptions, exception)) as e:
        sagemaker.invoke_endpoint_async(EndpointName="llama-async", InputLocation=put_input(s3, bucket, text))
    assert e.value.response["Error"]["Code"] == exception


def test_invoke_endpoint_async_is_validated_as_the_service_model_states(sagemaker, s3, bucket):
    with pytest.raises(sagemaker.exceptions.ValidationError) as e:
        sagemaker.invoke_endpoint_async(
            EndpointName="llama_async", InputLocation=put_input(s3, bucket, "hello")
        )
    assert "endpointName" in str(e.value)
    raw = boto3.client(
        "sagemaker-runtime",
        endpoint_url=sagemaker.meta.endpoint_url,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
        **CREDS,
    )
    with pytest.raises(raw.exceptions.ValidationError) as e:
        raw.invoke_endpoint_async(
            EndpointName="llama-async", InputLocation=put_input(s3, bucket, "hello"), RequestTTLSeconds=5
        )
    assert "requestTTLSeconds" in str(e.value)
