//! The AWS front door: a SigV4 signature from a configured access key, or (Bedrock) a Bedrock API
//! key as `Authorization: Bearer`, rejected with the error types and messages AWS sends. botocore
//! and the SDKs read the code from `x-amzn-ErrorType` (`codec::aws::error`); none of these types
//! is in the Bedrock or SageMaker service model but `AccessDeniedException`, so botocore raises a
//! `ClientError` with that code and the JS SDK a `…ServiceException` named after it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::{Credentials, Rejection, bearer, ct_eq, header_str, sigv4};
use crate::codec::aws;

/// AWS accepts a signature made up to 5 minutes before or after its own clock.
const SKEW_SECS: i64 = 300;

/// The payload hash values that stand for themselves: the body is not hashed (`UNSIGNED-PAYLOAD`)
/// or is signed chunk by chunk / event by event (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
/// `STREAMING-AWS4-HMAC-SHA256-EVENTS` on bidirectional streams). Their bodies are not buffered.
fn literal_payload_hash(v: &str) -> bool {
    v == "UNSIGNED-PAYLOAD" || v.starts_with("STREAMING-")
}

pub(super) async fn check(
    creds: &Credentials,
    bedrock_api_keys: bool,
    req: Request,
    max_body: usize,
    now: i64,
) -> Result<Request, Rejection> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let Some(authorization) = header_str(headers, "authorization") else {
        // What API Gateway-fronted AWS services answer an unsigned request.
        return Err(reject(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if bedrock_api_keys && let Some(token) = bearer(headers) {
        bedrock_api_key(creds, token)?;
        return Ok(Request::from_parts(parts, body));
    }
    let auth = sigv4::parse(authorization)
        .map_err(|m| reject(StatusCode::BAD_REQUEST, "IncompleteSignatureException", &m))?;
    let Some(secret) = creds.secret(auth.access_key) else {
        // botocore: "An error occurred (UnrecognizedClientException) when calling the Converse
        // operation: The security token included in the request is invalid." (e.g.
        // langchain-ai/langchain#19677, vercel/ai#4163).
        return Err(reject(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let Some(amz_date) = header_str(headers, "x-amz-date") else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let signed_at = sigv4::parse_amz_date(amz_date).ok_or_else(|| {
        invalid_signature(&format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    skew(amz_date, signed_at, now)?;
    let declared = header_str(headers, "x-amz-content-sha256").filter(|v| literal_payload_hash(v));
    let (payload_hash, body) = match declared {
        Some(h) => (h.to_string(), body),
        None => {
            // The SDKs sign the body's SHA-256 whether or not they send it as a header: hash
            // what arrived, so a body changed after signing fails the signature.
            let bytes = axum::body::to_bytes(body, max_body).await.map_err(|_| {
                reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ValidationException",
                    &format!("Request body is larger than {max_body} bytes"),
                )
            })?;
            (sigv4::payload_hash(&bytes), Body::from(bytes))
        }
    };
    let canonical = sigv4::canonical_request(
        &sigv4::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
            payload_hash: &payload_hash,
        },
        auth.signed_headers,
    );
    let to_sign = sigv4::string_to_sign(amz_date, auth.scope, &canonical);
    if !sigv4::verify(secret, auth.scope, &to_sign, auth.signature) {
        tracing::debug!(%canonical, "SigV4 signature mismatch");
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(Request::from_parts(parts, body))
}

/// "Signature expired: 20160610T180547Z is now earlier than 20160610T180612Z (20160610T181112Z -
/// 5 min.)" and its mirror for a clock ahead, as AWS words them (hassy/artillery-dino#2,
/// m0ngr31/kanzi#270: `InvalidSignatureException`, 403 on restJson services).
fn skew(amz_date: &str, signed_at: i64, now: i64) -> Result<(), Rejection> {
    let fmt = sigv4::format_amz_date;
    if signed_at < now - SKEW_SECS {
        return Err(invalid_signature(&format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            fmt(now - SKEW_SECS),
            fmt(now)
        )));
    }
    if signed_at > now + SKEW_SECS {
        return Err(invalid_signature(&format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            fmt(now + SKEW_SECS),
            fmt(now)
        )));
    }
    Ok(())
}

fn invalid_signature(message: &str) -> Rejection {
    reject(StatusCode::FORBIDDEN, "InvalidSignatureException", message)
}

fn reject(status: StatusCode, error_type: &str, message: &str) -> Rejection {
    Box::new(aws::error(status, error_type, message))
}

/// Bedrock API keys: long-term keys start `ABSK`, short-term ones `bedrock-api-key-`. Bedrock
/// answers 403 `AccessDeniedException` with a capitalised `Message` member: "Invalid API Key
/// format: Must start with pre-defined prefix" for anything else (farion1231/cc-switch#1679,
/// aws-solutions-library-samples/guidance-for-claude-code-with-amazon-bedrock#784) and
/// "Authentication failed: Please make sure your API Key is valid." for a well-formed key it does
/// not know (ai4s-research/open-science#53).
fn bedrock_api_key(creds: &Credentials, token: &str) -> Result<(), Rejection> {
    if creds.bedrock_api_keys.iter().any(|k| ct_eq(k, token)) {
        return Ok(());
    }
    let message = if token.starts_with("ABSK") || token.starts_with("bedrock-api-key-") {
        "Authentication failed: Please make sure your API Key is valid."
    } else {
        "Invalid API Key format: Must start with pre-defined prefix"
    };
    let mut body = Map::new();
    body.insert("Message".into(), Value::from(message));
    Err(Box::new(aws::error_with(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literal_payload_hashes_sign_as_themselves_and_leave_the_body_unread() {
        let creds = Credentials::parse("aws: [{accessKeyId: AK, secretAccessKey: s}]").unwrap();
        let date = "20260101T000000Z";
        let now = sigv4::parse_amz_date(date).unwrap();
        let scope = "20260101/us-east-1/bedrock/aws4_request";
        let signed = "host;x-amz-content-sha256;x-amz-date";
        for hash in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-EVENTS"] {
            let mut req = Request::builder()
                .method("POST")
                .uri("/model/m/invoke-with-bidirectional-stream")
                .header("host", "127.0.0.1:4010")
                .header("x-amz-date", date)
                .header("x-amz-content-sha256", hash)
                .body(Body::from("a body longer than the limit"))
                .unwrap();
            let creq = sigv4::canonical_request(
                &sigv4::Request {
                    method: "POST",
                    path: req.uri().path(),
                    query: None,
                    headers: req.headers(),
                    authority: None,
                    payload_hash: hash,
                },
                signed,
            );
            let sig = sigv4::sign("s", scope, &sigv4::string_to_sign(date, scope, &creq));
            let auth =
                format!("AWS4-HMAC-SHA256 Credential=AK/{scope}, SignedHeaders={signed}, Signature={sig}");
            req.headers_mut().insert("authorization", auth.parse().unwrap());
            // A 1-byte limit: the body was passed on unread (a stream must not be buffered).
            let req = check(&creds, false, req, 1, now).await.expect(hash);
            let body = axum::body::to_bytes(req.into_body(), 100).await.unwrap();
            assert_eq!(&body[..], b"a body longer than the limit");
        }
    }

    #[test]
    fn skew_is_five_minutes_either_way_with_aws_wording() {
        let t = sigv4::parse_amz_date("20160610T181112Z").unwrap();
        assert!(skew("x", t - 300, t).is_ok() && skew("x", t + 300, t).is_ok());
        let res = skew("20160610T180547Z", t - 325, t).unwrap_err();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.headers()["x-amzn-errortype"], "InvalidSignatureException");
        assert!(skew("x", t + 301, t).is_err());
    }
}
