//! The registry of wires: the one place that lists them. The router, the 404/405 shapes by path
//! and the endpoints a MockModel's status advertises all read [`WIRES`]; a new wire is its module
//! plus one line here. Wires never import each other; shared codecs live in `crate::codec`.

pub mod anthropic;
pub mod bedrock;
pub mod bedrock_anthropic;
pub mod bedrock_openai;
pub mod openai;
pub mod responses;
pub mod sagemaker;

use std::sync::LazyLock;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use crate::auth::Scheme;
use crate::codec::{anthropic_messages, aws, openai_error};
use crate::conversation::Protocol;
use crate::state::SharedState;
use crate::wire::RequestIdStyle;

/// One wire: what it serves and how it answers requests it has no route for.
pub struct WireSpec {
    /// The protocol its requests are matched as (`match.protocol`).
    pub protocol: Protocol,
    /// Its routes.
    pub routes: fn() -> Router<SharedState>,
    /// Path prefixes whose unknown routes and methods answer in this wire's shape (longest wins).
    pub prefixes: &'static [&'static str],
    /// A 404 or 405 in this wire's shape: status, error code, message.
    pub unrouted: fn(StatusCode, &str, String) -> Response,
    /// The client base URL this wire is reached at, as `(status key, path below the server URL)`.
    pub endpoint: Option<(&'static str, &'static str)>,
    /// The request-id header its service sends on every response.
    pub request_id: RequestIdStyle,
    /// How its service authenticates callers (checked with `--auth`).
    pub auth: Scheme,
}

/// Bedrock Runtime's front door, whatever API it carries: SigV4 or a Bedrock API key.
const BEDROCK_AUTH: Scheme = Scheme::Aws {
    bedrock_api_keys: true,
};

/// Every wire the server speaks.
pub const WIRES: &[WireSpec] = &[
    WireSpec {
        protocol: Protocol::OpenAi,
        routes: openai::routes,
        prefixes: &["/v1/"],
        unrouted: openai_error::unrouted,
        endpoint: Some(("openai", "/v1")),
        request_id: RequestIdStyle::OpenAi,
        auth: Scheme::OpenAi,
    },
    WireSpec {
        protocol: Protocol::OpenAi,
        routes: responses::routes,
        prefixes: &["/v1/responses"],
        unrouted: openai_error::unrouted,
        // Reached at the OpenAI base URL above.
        endpoint: None,
        request_id: RequestIdStyle::OpenAi,
        auth: Scheme::OpenAi,
    },
    WireSpec {
        protocol: Protocol::Anthropic,
        routes: anthropic::routes,
        prefixes: &["/v1/messages"],
        unrouted: anthropic_messages::unrouted,
        endpoint: Some(("anthropic", "")),
        request_id: RequestIdStyle::Anthropic,
        auth: Scheme::Anthropic,
    },
    WireSpec {
        protocol: Protocol::Bedrock,
        routes: bedrock::routes,
        prefixes: &["/"],
        unrouted: aws_unrouted,
        endpoint: Some(("bedrock", "")),
        request_id: RequestIdStyle::Aws,
        auth: BEDROCK_AUTH,
    },
    WireSpec {
        protocol: Protocol::Bedrock,
        routes: bedrock_openai::routes,
        prefixes: &["/openai/v1/"],
        unrouted: openai_error::unrouted,
        endpoint: Some(("bedrockOpenai", "/openai/v1")),
        // The AWS front door names every response, whatever API it carries.
        request_id: RequestIdStyle::Aws,
        auth: BEDROCK_AUTH,
    },
    WireSpec {
        protocol: Protocol::Bedrock,
        routes: bedrock_anthropic::routes,
        prefixes: &["/anthropic/v1/"],
        unrouted: anthropic_messages::unrouted,
        endpoint: Some(("bedrockAnthropic", "/anthropic")),
        // The AWS front door names every response, whatever API it carries.
        request_id: RequestIdStyle::Aws,
        auth: BEDROCK_AUTH,
    },
    WireSpec {
        protocol: Protocol::SageMaker,
        routes: sagemaker::routes,
        prefixes: &["/endpoints/"],
        unrouted: aws_unrouted,
        endpoint: Some(("sagemaker", "")),
        request_id: RequestIdStyle::Aws,
        auth: Scheme::Aws {
            bedrock_api_keys: false,
        },
    },
];

/// Every wire's routes, merged.
pub fn router() -> Router<SharedState> {
    WIRES.iter().fold(Router::new(), |r, w| r.merge((w.routes)()))
}

/// The client base URLs of every wire under `base` (a Service URL), keyed as the status lists them.
pub fn endpoints(base: &str) -> Vec<(&'static str, String)> {
    WIRES
        .iter()
        .filter_map(|w| w.endpoint)
        .map(|(key, path)| (key, format!("{base}{path}")))
        .collect()
}

/// No route for this path (404) or this method (405): the error shape of the wire that owns the
/// longest matching prefix.
pub fn unrouted(method: &Method, uri: &Uri, allowed_path: bool) -> Response {
    let path = uri.path();
    let (status, code, message) = if allowed_path {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("Method {method} is not allowed on {path}"),
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "unknown_url",
            format!("No route for {method} {path}"),
        )
    };
    match owner(path) {
        Some(w) => (w.unrouted)(status, code, message),
        None => aws_unrouted(status, code, message),
    }
}

/// The wire that owns a path: the one with the longest matching prefix.
pub fn owner(path: &str) -> Option<&'static WireSpec> {
    // Every prefix once, longest first, so the first that matches is the longest: asked on every
    // request (its request-id style), where walking every wire's prefixes cost ~500 instructions.
    static BY_LENGTH: LazyLock<Vec<(&'static str, &'static WireSpec)>> = LazyLock::new(|| {
        // Reversed before the stable sort: of two prefixes of one length, the later one wins, as
        // it did with `max_by_key`.
        let mut all: Vec<_> = WIRES
            .iter()
            .flat_map(|w| w.prefixes.iter().map(move |p| (*p, w)))
            .rev()
            .collect();
        all.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        all
    });
    BY_LENGTH
        .iter()
        .find(|(p, _)| path.starts_with(p))
        .map(|(_, w)| *w)
}

/// AWS services answer unknown operations with `UnknownOperationException`.
fn aws_unrouted(status: StatusCode, _code: &str, message: String) -> Response {
    aws::error(status, "UnknownOperationException", &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_is_served_by_a_wire_and_the_longest_prefix_owns_unknown_paths() {
        for p in Protocol::ALL {
            assert!(WIRES.iter().any(|w| w.protocol == p), "{p:?}");
        }
        let res = unrouted(&Method::GET, &"/v1/nope".parse().unwrap(), false);
        assert!(res.headers().get("x-amzn-errortype").is_none());
        let res = unrouted(&Method::GET, &"/model/x/nope".parse().unwrap(), false);
        assert_eq!(res.headers()["x-amzn-errortype"], "UnknownOperationException");
    }
}
