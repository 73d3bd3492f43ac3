//! The error vocabulary shared by every protocol: one neutral [`ErrorClass`], translated to each
//! protocol's own names and statuses by its codec.
//!
//! A fixture may name an error in any protocol's words (`ThrottlingException`, `rate_limit_error`,
//! `ModelError`); [`ErrorClass::classify`] reads the name first and the status second.

/// What kind of failure, independent of protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Too many requests (429).
    Throttling,
    /// The request is malformed or invalid (400).
    Validation,
    /// Bad or missing credentials (401).
    Unauthenticated,
    /// Not allowed (403).
    AccessDenied,
    /// No such model, endpoint or fixture (404).
    NotFound,
    /// Conflict (409).
    Conflict,
    /// The model took too long (408).
    Timeout,
    /// The request is too large (413).
    PayloadTooLarge,
    /// The model failed (424).
    ModelError,
    /// The model is not ready yet (429 on AWS).
    ModelNotReady,
    /// Quota exceeded (400 on Bedrock).
    QuotaExceeded,
    /// The service is unavailable (503).
    Unavailable,
    /// Anything else on the server side (500).
    Internal,
}

impl ErrorClass {
    /// Classifies a fixture error by its type name (any protocol's spelling), else by status.
    pub fn classify(type_: Option<&str>, status: u16) -> Self {
        if let Some(t) = type_
            && let Some(class) = Self::from_name(t)
        {
            return class;
        }
        Self::from_status(status)
    }

    /// Recognises AWS exception names and OpenAI/Anthropic error types.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name
            .trim_end_matches("Exception")
            .to_ascii_lowercase()
            .replace(['_', '-'], "");
        Some(match n.as_str() {
            "throttling" | "ratelimiterror" | "ratelimitexceeded" | "toomanyrequests" | "throttlingerror" => {
                ErrorClass::Throttling
            }
            "validation" | "validationerror" | "invalidrequesterror" | "badrequest" => ErrorClass::Validation,
            "authenticationerror" | "unrecognizedclient" | "unauthorized" => ErrorClass::Unauthenticated,
            "accessdenied" | "permissionerror" | "permissiondenied" => ErrorClass::AccessDenied,
            "resourcenotfound" | "notfounderror" | "notfound" | "modelnotfound" => ErrorClass::NotFound,
            "conflict" | "conflicterror" => ErrorClass::Conflict,
            "modeltimeout" | "timeout" | "timeouterror" | "requesttimeout" => ErrorClass::Timeout,
            "requesttoolarge" | "payloadtoolarge" => ErrorClass::PayloadTooLarge,
            "modelerror" | "modelstreamerror" => ErrorClass::ModelError,
            "modelnotready" => ErrorClass::ModelNotReady,
            "servicequotaexceeded" | "insufficientquota" => ErrorClass::QuotaExceeded,
            "serviceunavailable" | "overloadederror" | "overloaded" => ErrorClass::Unavailable,
            "internalserver"
            | "internalfailure"
            | "servererror"
            | "apierror"
            | "internalstreamfailure"
            | "internaldependency" => ErrorClass::Internal,
            _ => return None,
        })
    }

    /// The class HTTP status alone implies.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => ErrorClass::Validation,
            401 => ErrorClass::Unauthenticated,
            403 => ErrorClass::AccessDenied,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            409 => ErrorClass::Conflict,
            413 => ErrorClass::PayloadTooLarge,
            424 => ErrorClass::ModelError,
            429 => ErrorClass::Throttling,
            503 | 529 => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        }
    }

    /// OpenAI `error.type` and the status the OpenAI API uses for it.
    pub fn openai(self) -> (&'static str, u16) {
        match self {
            ErrorClass::Throttling | ErrorClass::ModelNotReady => ("rate_limit_error", 429),
            ErrorClass::Validation | ErrorClass::QuotaExceeded => ("invalid_request_error", 400),
            ErrorClass::Unauthenticated => ("authentication_error", 401),
            ErrorClass::AccessDenied => ("permission_error", 403),
            ErrorClass::NotFound => ("not_found_error", 404),
            ErrorClass::Conflict => ("conflict_error", 409),
            ErrorClass::Timeout => ("timeout_error", 408),
            ErrorClass::PayloadTooLarge => ("invalid_request_error", 413),
            ErrorClass::ModelError | ErrorClass::Internal => ("server_error", 500),
            ErrorClass::Unavailable => ("service_unavailable_error", 503),
        }
    }

    /// Anthropic `error.type` and the status the Messages API uses for it (its errors reference).
    /// Anthropic has no conflict, quota or model-error types: those become the nearest it has.
    pub fn anthropic(self) -> (&'static str, u16) {
        match self {
            ErrorClass::Throttling | ErrorClass::ModelNotReady => ("rate_limit_error", 429),
            ErrorClass::Validation | ErrorClass::QuotaExceeded | ErrorClass::Conflict => {
                ("invalid_request_error", 400)
            }
            ErrorClass::Unauthenticated => ("authentication_error", 401),
            ErrorClass::AccessDenied => ("permission_error", 403),
            ErrorClass::NotFound => ("not_found_error", 404),
            ErrorClass::PayloadTooLarge => ("request_too_large", 413),
            ErrorClass::Timeout => ("timeout_error", 504),
            ErrorClass::ModelError | ErrorClass::Internal => ("api_error", 500),
            ErrorClass::Unavailable => ("overloaded_error", 529),
        }
    }

    /// SageMaker Runtime error type (the `x-amzn-ErrorType` botocore reads) and status.
    ///
    /// SageMaker reports a missing endpoint as a 400 `ValidationError`, and a container that fails
    /// or times out as a 424 `ModelError`.
    pub fn sagemaker(self) -> (&'static str, u16) {
        match self {
            ErrorClass::Throttling => ("ThrottlingException", 429),
            ErrorClass::Validation
            | ErrorClass::NotFound
            | ErrorClass::Conflict
            | ErrorClass::PayloadTooLarge
            | ErrorClass::QuotaExceeded => ("ValidationError", 400),
            ErrorClass::Unauthenticated => ("UnrecognizedClientException", 403),
            ErrorClass::AccessDenied => ("AccessDeniedException", 403),
            ErrorClass::Timeout | ErrorClass::ModelError => ("ModelError", 424),
            ErrorClass::ModelNotReady => ("ModelNotReadyException", 429),
            ErrorClass::Unavailable => ("ServiceUnavailable", 503),
            ErrorClass::Internal => ("InternalFailure", 500),
        }
    }

    /// Bedrock Runtime exception name and its HTTP status (the service model's `httpStatusCode`).
    pub fn bedrock(self) -> (&'static str, u16) {
        match self {
            ErrorClass::Throttling => ("ThrottlingException", 429),
            ErrorClass::Validation => ("ValidationException", 400),
            // Bedrock answers bad credentials and missing permissions alike.
            ErrorClass::Unauthenticated | ErrorClass::AccessDenied => ("AccessDeniedException", 403),
            ErrorClass::NotFound => ("ResourceNotFoundException", 404),
            ErrorClass::Conflict => ("ConflictException", 400),
            ErrorClass::Timeout => ("ModelTimeoutException", 408),
            ErrorClass::PayloadTooLarge => ("ValidationException", 413),
            ErrorClass::ModelError => ("ModelErrorException", 424),
            ErrorClass::ModelNotReady => ("ModelNotReadyException", 429),
            ErrorClass::QuotaExceeded => ("ServiceQuotaExceededException", 400),
            ErrorClass::Unavailable => ("ServiceUnavailableException", 503),
            ErrorClass::Internal => ("InternalServerException", 500),
        }
    }

    /// The event member a Bedrock stream carries this error as (`:exception-type`). ConverseStream has
    /// no `modelTimeoutException` member, so `invoke` says which stream union applies.
    pub fn bedrock_stream(self, invoke: bool) -> &'static str {
        match self {
            ErrorClass::Throttling | ErrorClass::ModelNotReady | ErrorClass::QuotaExceeded => {
                "throttlingException"
            }
            ErrorClass::Validation | ErrorClass::PayloadTooLarge | ErrorClass::Conflict => {
                "validationException"
            }
            ErrorClass::Timeout if invoke => "modelTimeoutException",
            ErrorClass::Timeout | ErrorClass::ModelError => "modelStreamErrorException",
            ErrorClass::Unavailable => "serviceUnavailableException",
            ErrorClass::Unauthenticated
            | ErrorClass::AccessDenied
            | ErrorClass::NotFound
            | ErrorClass::Internal => "internalServerException",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sagemaker_names_its_model_errors_as_the_service_model_does() {
        assert_eq!(
            ErrorClass::from_name("ModelError").map(ErrorClass::sagemaker),
            Some(("ModelError", 424))
        );
        assert_eq!(
            ErrorClass::from_name("ModelNotReadyException").map(ErrorClass::sagemaker),
            Some(("ModelNotReadyException", 429))
        );
        assert_eq!(
            ErrorClass::from_status(503).sagemaker(),
            ("ServiceUnavailable", 503)
        );
        assert_eq!(ErrorClass::from_status(404).sagemaker(), ("ValidationError", 400));
    }

    #[test]
    fn names_from_any_protocol_classify_alike() {
        for n in ["ThrottlingException", "rate_limit_error", "throttlingException"] {
            assert_eq!(ErrorClass::from_name(n), Some(ErrorClass::Throttling), "{n}");
        }
        assert_eq!(ErrorClass::from_name("ModelError"), Some(ErrorClass::ModelError));
        assert_eq!(
            ErrorClass::from_name("ValidationError"),
            Some(ErrorClass::Validation)
        );
        assert_eq!(ErrorClass::from_name("made_up"), None);
    }

    #[test]
    fn bedrock_names_and_statuses_follow_the_service_model() {
        for (name, status) in [
            ("ThrottlingException", 429),
            ("ValidationException", 400),
            ("ResourceNotFoundException", 404),
            ("AccessDeniedException", 403),
            ("ModelTimeoutException", 408),
            ("ServiceUnavailableException", 503),
            ("InternalServerException", 500),
            ("ModelNotReadyException", 429),
            ("ModelErrorException", 424),
            ("ServiceQuotaExceededException", 400),
        ] {
            let class = ErrorClass::from_name(name).expect(name);
            assert_eq!(class.bedrock(), (name, status));
        }
        assert_eq!(ErrorClass::Timeout.bedrock_stream(true), "modelTimeoutException");
        assert_eq!(
            ErrorClass::Timeout.bedrock_stream(false),
            "modelStreamErrorException"
        );
        assert_eq!(
            ErrorClass::Throttling.bedrock_stream(false),
            "throttlingException"
        );
    }

    #[test]
    fn the_name_wins_over_the_status_and_the_status_is_the_fallback() {
        assert_eq!(
            ErrorClass::classify(Some("ThrottlingException"), 500),
            ErrorClass::Throttling
        );
        assert_eq!(ErrorClass::classify(Some("custom"), 503), ErrorClass::Unavailable);
        assert_eq!(ErrorClass::classify(None, 429), ErrorClass::Throttling);
    }
}
