//! AWS Signature Version 4 verification: the canonical request, string to sign and signature of
//! an incoming request, recomputed with the stored secret and compared in constant time.
//!
//! Written from AWS's SigV4 description and checked against AWS's published signing test suite
//! (`aws-signing-test-suite/v4`, shipped in the `aws-sigv4` crate) and against botocore and the
//! AWS SDK for JavaScript v3 (tests/python/test_auth.py). The `aws-sigv4` crate only signs: it
//! cannot be handed a request's own timestamp, credential scope and signed-header list, which
//! verification needs, so the canonicalisation is done here.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The only algorithm the SDKs sign Bedrock and SageMaker requests with.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
/// header.
#[derive(Debug, PartialEq)]
pub struct Authorization<'a> {
    /// The access key id (first element of the credential).
    pub access_key: &'a str,
    /// `date/region/service/aws4_request`.
    pub scope: &'a str,
    /// Lower-case header names, `;`-separated, as the client signed them.
    pub signed_headers: &'a str,
    /// Lower-case hex signature.
    pub signature: &'a str,
}

/// Parses the Authorization header; `Err` names the missing parameters the way AWS's
/// `IncompleteSignatureException` does.
pub fn parse(value: &str) -> Result<Authorization<'_>, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            format!("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={value}")
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed, signature) else {
        return Err(format!("{missing}Authorization={value}"));
    };
    let (access_key, scope) = credential
        .split_once('/')
        .filter(|(_, s)| s.split('/').count() == 4 && s.ends_with("/aws4_request"))
        .ok_or_else(|| {
            format!(
                "Credential should be scoped to a valid region, not a malformed scope. Authorization={value}"
            )
        })?;
    Ok(Authorization {
        access_key,
        scope,
        signed_headers,
        signature,
    })
}

/// What a request contributes to its canonical form.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The `:authority` of an HTTP/2 request, which carries no `Host` header.
    pub authority: Option<&'a str>,
    /// Hex SHA-256 of the body, or the literal `x-amz-content-sha256` value (`UNSIGNED-PAYLOAD`,
    /// `STREAMING-…`).
    pub payload_hash: &'a str,
}

/// The canonical request for `signed_headers` (`;`-separated, lower case).
pub fn canonical_request(r: &Request, signed_headers: &str) -> String {
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = r
            .headers
            .get_all(name)
            .iter()
            .map(|v| trim_all(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        // HTTP/2 carries the host as the `:authority` pseudo-header, which the JS SDK v3 signs
        // under that name; hyper keeps it in the URI, not the header map.
        let value = if values.is_empty() && (name == "host" || name == ":authority") {
            r.authority.unwrap_or_default().to_string()
        } else {
            values.join(",")
        };
        headers.push_str(&format!("{name}:{value}\n"));
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers}\n{}",
        r.method,
        canonical_uri(r.path),
        canonical_query(r.query.unwrap_or_default()),
        r.payload_hash
    )
}

/// `AWS4-HMAC-SHA256\n<x-amz-date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Whether `signature` (hex) is the HMAC of `string_to_sign` under the key derived from `secret`
/// and `scope`; compared in constant time (`Mac::verify_slice`).
pub fn verify(secret: &str, scope: &str, string_to_sign: &str, signature: &str) -> bool {
    let Some(given) = unhex(signature) else {
        return false;
    };
    hmac(&signing_key(secret, scope), string_to_sign.as_bytes())
        .verify_slice(&given)
        .is_ok()
}

/// The hex signature of `string_to_sign` (tests and diagnostics).
pub fn sign(secret: &str, scope: &str, string_to_sign: &str) -> String {
    hex(&hmac(&signing_key(secret, scope), string_to_sign.as_bytes())
        .finalize()
        .into_bytes())
}

/// Hex SHA-256 of a body.
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

fn signing_key(secret: &str, scope: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    // date, region, service, "aws4_request": each keys the next HMAC.
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes()).finalize().into_bytes().to_vec();
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac
}

/// Header values: leading and trailing space removed, inner runs of spaces collapsed to one.
fn trim_all(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path normalised (`.`/`..` and empty segments removed, as botocore and the JS SDK do for
/// every service but S3) and then URI-encoded *again*: the SDKs sign the already-encoded path, so
/// a Bedrock model id `…v1%3A0` is `…v1%253A0` in the canonical request (AWS test suite
/// `double-encode-path`).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if path.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    uri_encode(&out, false)
}

/// Query parameters decoded, re-encoded strictly and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k), true), uri_encode(&decode(v), true))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// AWS's URI encoding: every byte but `A-Za-z0-9-_.~` (and `/` in paths) as `%XX`, upper case.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Seconds since the epoch of an ISO-8601 basic timestamp (`20150830T123600Z`).
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The ISO-8601 basic timestamp of `secs` since the epoch.
pub fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn signature(
        method: &str,
        path: &str,
        query: Option<&str>,
        h: &HeaderMap,
        signed: &str,
    ) -> (String, String) {
        let r = Request {
            method,
            path,
            query,
            headers: h,
            authority: None,
            payload_hash: EMPTY,
        };
        let creq = canonical_request(&r, signed);
        let scope = "20150830/us-east-1/service/aws4_request";
        let sts = string_to_sign("20150830T123600Z", scope, &creq);
        (creq, sign(SECRET, scope, &sts))
    }

    // Vectors from AWS's signing test suite (aws-signing-test-suite/v4/<name>/).
    #[test]
    fn aws_test_suite_get_and_post_vanilla() {
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ]);
        let (_, sig) = signature("GET", "/", None, &h, "host;x-amz-date");
        assert_eq!(
            sig,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let (creq, sig) = signature("POST", "/", None, &h, "host;x-amz-date");
        assert_eq!(
            creq,
            format!(
                "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY}"
            )
        );
        assert_eq!(
            sig,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert!(verify(
            SECRET,
            "20150830/us-east-1/service/aws4_request",
            &string_to_sign(
                "20150830T123600Z",
                "20150830/us-east-1/service/aws4_request",
                &creq
            ),
            &sig
        ));
        assert!(!verify(
            "wrong",
            "20150830/us-east-1/service/aws4_request",
            &string_to_sign(
                "20150830T123600Z",
                "20150830/us-east-1/service/aws4_request",
                &creq
            ),
            &sig
        ));
    }

    #[test]
    fn aws_test_suite_query_order_and_header_values() {
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ]);
        // get-vanilla-query-order-key-case
        let (creq, sig) = signature(
            "GET",
            "/",
            Some("Param2=value2&Param1=value1"),
            &h,
            "host;x-amz-date",
        );
        assert!(creq.contains("\nParam1=value1&Param2=value2\n"), "{creq}");
        assert_eq!(
            sig,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        // get-header-value-trim: values trimmed and inner spaces collapsed
        let h2 = headers(&[
            ("host", "example.amazonaws.com"),
            ("my-header1", " value1"),
            ("my-header2", " \"a   b   c\""),
            ("x-amz-date", "20150830T123600Z"),
        ]);
        let (creq, sig) = signature("GET", "/", None, &h2, "host;my-header1;my-header2;x-amz-date");
        assert!(
            creq.contains("my-header1:value1\nmy-header2:\"a b c\"\n"),
            "{creq}"
        );
        assert_eq!(
            sig,
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        );
    }

    #[test]
    fn the_encoded_path_is_encoded_again() {
        // aws-signing-test-suite/v4/double-encode-path/header-canonical-request.txt
        assert_eq!(
            canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(
            canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        assert_eq!(canonical_uri("/example/.././x//y/"), "/x/y/");
    }

    #[test]
    fn authorization_headers_parse_or_name_what_is_missing() {
        let a = parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd").unwrap();
        assert_eq!(a.access_key, "AKID");
        assert_eq!(a.scope, "20150830/us-east-1/bedrock/aws4_request");
        assert_eq!(a.signed_headers, "host;x-amz-date");
        let e =
            parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request").unwrap_err();
        assert!(e.starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."), "{e}");
        assert!(parse("Basic abc").is_err());
        assert!(!verify(
            SECRET,
            "20150830/us-east-1/service/aws4_request",
            "x",
            "zz"
        ));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
        assert!(parse_amz_date("20151330T123600Z").is_none());
    }
}
