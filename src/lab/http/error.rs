//! The errors the lab answers with, each rendered as the `Status` object a kube-apiserver sends
//! for it (the constructors of `k8s.io/apimachinery/pkg/api/errors`: same code, reason, message
//! and details), so that clients branch on them as they do against a real server.

use std::fmt;

use axum::body::Body;
use axum::http::Response;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::lab::registry::ResourceType;

/// A resource as errors name it: `services`, `ciliumloadbalancerippools.cilium.io`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    /// A resource of the core group.
    pub fn core(resource: &str) -> Self {
        GroupResource {
            group: String::new(),
            resource: resource.to_string(),
        }
    }
    pub fn of(rt: &ResourceType) -> Self {
        GroupResource {
            group: rt.group.clone(),
            resource: rt.plural.clone(),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A kind as validation errors name it: `Service`, `CiliumLoadBalancerIPPool.cilium.io`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: &str, kind: &str) -> Self {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }
    pub fn of(rt: &ResourceType) -> Self {
        GroupKind::new(&rt.group, &rt.kind)
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// An API error. `Display` is the Status `message`; [`ApiError::status`] is the whole body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A named object that does not exist (`NewNotFound`).
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        resource: GroupResource,
        name: String,
    },
    /// A path that names nothing the server serves.
    #[error("the server could not find the requested resource")]
    NoSuchPath,
    /// A scenario object whose kind no served version has (the lab's loader, never on the wire).
    #[error("no kind {kind:?} is registered for version {api_version:?}; is its CRD in the scenario, before it?")]
    UnknownKind { kind: String, api_version: String },
    /// A create of a name that is taken (`NewAlreadyExists`).
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        resource: GroupResource,
        name: String,
    },
    /// A write at a stale resourceVersion (`NewConflict` with the storage's precondition error).
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again")]
    Conflict {
        resource: GroupResource,
        name: String,
    },
    /// A server-side apply that would take fields from other managers without `force`: one
    /// `FieldManagerConflict` cause per `(manager, field)`.
    #[error("{message}")]
    ApplyConflict {
        message: String,
        conflicts: Vec<(String, String)>,
    },
    /// Failed validation (`NewInvalid`): each error is `field: body` as `field.Error` prints it.
    #[error("{kind} {name:?} is invalid: {}", aggregate(.errors))]
    Invalid {
        kind: GroupKind,
        name: String,
        errors: Vec<String>,
    },
    /// A 422 the server builds with `NewGenericServerResponse` (a JSON patch whose operation
    /// fails): a fixed message, the underlying text as the only cause.
    #[error("the server rejected our request due to an error in our request")]
    Rejected { cause: String },
    #[error("{0}")]
    BadRequest(String),
    /// An authorization denial; `resource` is the `(group/resource, name)` of a resource request.
    #[error("{message}")]
    Forbidden {
        message: String,
        resource: Option<(GroupResource, String)>,
    },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("Request entity too large: limit is {limit}")]
    RequestEntityTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An `Accept` header that JSON does not satisfy.
    #[error("only the following media types are accepted: application/json")]
    NotAcceptable,
    /// A resourceVersion or continue token older than the retained history.
    #[error("{0}")]
    Expired(String),
    #[error("{0}")]
    Internal(String),
    /// A fault a test injected, with the reason a real server gives that code.
    #[error("injected fault: {code}")]
    Injected { code: u16 },
}

/// An `ErrorList`'s aggregate text as Go's `utilerrors.NewAggregate` prints it: one error as
/// itself, several (duplicates dropped) in brackets.
fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&str> = vec![];
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The cause type of a field error, from the text `field.ErrorType` gives it.
fn field_cause(body: &str) -> &'static str {
    const TYPES: [(&str, &str); 9] = [
        ("Unsupported value", "FieldValueNotSupported"),
        ("Required value", "FieldValueRequired"),
        ("Forbidden", "FieldValueForbidden"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Not found", "FieldValueNotFound"),
        ("Too long", "FieldValueTooLong"),
        ("Too many", "FieldValueTooMany"),
        ("Internal error", "InternalError"),
        ("Invalid value", "FieldValueInvalid"),
    ];
    TYPES
        .iter()
        .find(|(text, _)| body.starts_with(text))
        .map_or("FieldValueInvalid", |(_, cause)| cause)
}

/// `StatusDetails` with Go's `omitempty`: empty strings and no causes are left out.
fn details(group: &str, kind: &str, name: &str, causes: Vec<Value>) -> Value {
    let mut d = json!({});
    for (k, v) in [("group", group), ("kind", kind), ("name", name)] {
        if !v.is_empty() {
            d[k] = json!(v);
        }
    }
    if !causes.is_empty() {
        d["causes"] = Value::Array(causes);
    }
    d
}

impl ApiError {
    pub(crate) fn not_found(rt: &ResourceType, name: &str) -> Self {
        ApiError::NotFound {
            resource: GroupResource::of(rt),
            name: name.to_string(),
        }
    }
    pub(crate) fn already_exists(rt: &ResourceType, name: &str) -> Self {
        ApiError::AlreadyExists {
            resource: GroupResource::of(rt),
            name: name.to_string(),
        }
    }
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        ApiError::Conflict {
            resource: GroupResource::of(rt),
            name: name.to_string(),
        }
    }
    pub fn invalid(rt: &ResourceType, name: &str, errors: Vec<String>) -> Self {
        ApiError::Invalid {
            kind: GroupKind::of(rt),
            name: name.to_string(),
            errors,
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        use ApiError::*;
        match self {
            BadRequest(_) => 400,
            Unauthorized => 401,
            Forbidden { .. } => 403,
            NotFound { .. } | NoSuchPath | UnknownKind { .. } => 404,
            MethodNotAllowed => 405,
            NotAcceptable => 406,
            AlreadyExists { .. } | Conflict { .. } | ApplyConflict { .. } => 409,
            Expired(_) => 410,
            RequestEntityTooLarge { .. } => 413,
            UnsupportedMediaType(_) => 415,
            Invalid { .. } | Rejected { .. } => 422,
            Internal(_) => 500,
            Injected { code } => *code,
        }
    }

    /// The `StatusReason`.
    pub fn reason(&self) -> &'static str {
        use ApiError::*;
        match self {
            NotFound { .. } | NoSuchPath | UnknownKind { .. } => "NotFound",
            AlreadyExists { .. } => "AlreadyExists",
            Conflict { .. } | ApplyConflict { .. } => "Conflict",
            Invalid { .. } | Rejected { .. } => "Invalid",
            BadRequest(_) => "BadRequest",
            Forbidden { .. } => "Forbidden",
            Unauthorized => "Unauthorized",
            MethodNotAllowed => "MethodNotAllowed",
            RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            UnsupportedMediaType(_) => "UnsupportedMediaType",
            NotAcceptable => "NotAcceptable",
            Expired(_) => "Expired",
            Internal(_) => "InternalError",
            Injected { code } => match code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                410 => "Expired",
                422 => "Invalid",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            },
        }
    }

    /// The `StatusDetails`, if this error has any.
    fn details(&self) -> Option<Value> {
        use ApiError::*;
        match self {
            NotFound { resource, name }
            | AlreadyExists { resource, name }
            | Conflict { resource, name } => {
                Some(details(&resource.group, &resource.resource, name, vec![]))
            }
            Forbidden {
                resource: Some((resource, name)),
                ..
            } => Some(details(&resource.group, &resource.resource, name, vec![])),
            Invalid { kind, name, errors } => {
                let causes = errors
                    .iter()
                    .map(|e| {
                        let (field, body) = e.split_once(": ").unwrap_or(("", e));
                        json!({"reason": field_cause(body), "message": body, "field": field})
                    })
                    .collect();
                Some(details(&kind.group, &kind.kind, name, causes))
            }
            ApplyConflict { conflicts, .. } => {
                let causes = conflicts
                    .iter()
                    .map(|(manager, field)| {
                        json!({"reason": "FieldManagerConflict", "message": format!("conflict with {manager}"), "field": field})
                    })
                    .collect();
                Some(details("", "", "", causes))
            }
            Rejected { cause } => Some(details(
                "",
                "",
                "",
                vec![json!({"reason": "UnexpectedServerResponse", "message": cause})],
            )),
            _ => None,
        }
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.to_string(), "reason": self.reason(), "code": self.code()});
        if let Some(d) = self.details() {
            s["details"] = d;
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        super::json_resp(self.code(), &self.status())
    }
}

/// The ways of rendering the same error a real server has, checked field by field against
/// what `k8s.io/apimachinery/pkg/api/errors` builds.
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, StatusCode};

    fn status(e: ApiError) -> Value {
        e.status()
    }

    fn rt(group: &str, plural: &str, kind: &str) -> ResourceType {
        let mut t = crate::lab::registry::builtins()[0].clone();
        t.group = group.into();
        t.plural = plural.into();
        t.kind = kind.into();
        t
    }

    fn failure(code: u16, reason: &str, message: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code})
    }

    fn with_details(mut v: Value, d: Value) -> Value {
        v["details"] = d;
        v
    }

    #[test]
    fn not_found_names_the_qualified_resource() {
        let svc = rt("", "services", "Service");
        assert_eq!(
            status(ApiError::not_found(&svc, "web")),
            with_details(
                failure(404, "NotFound", "services \"web\" not found"),
                json!({"name": "web", "kind": "services"})
            )
        );
        let pool = rt(
            "cilium.io",
            "ciliumloadbalancerippools",
            "CiliumLoadBalancerIPPool",
        );
        assert_eq!(
            status(ApiError::not_found(&pool, "lan")),
            with_details(
                failure(
                    404,
                    "NotFound",
                    "ciliumloadbalancerippools.cilium.io \"lan\" not found"
                ),
                json!({"name": "lan", "kind": "ciliumloadbalancerippools", "group": "cilium.io"})
            )
        );
    }

    #[test]
    fn an_unknown_path_is_a_bare_not_found() {
        assert_eq!(
            status(ApiError::NoSuchPath),
            failure(
                404,
                "NotFound",
                "the server could not find the requested resource"
            )
        );
        let e = ApiError::UnknownKind {
            kind: "Foo".into(),
            api_version: "x.io/v1".into(),
        };
        assert_eq!(e.code(), 404);
        assert!(e.to_string().starts_with("no kind \"Foo\" is registered"));
    }

    #[test]
    fn already_exists_and_conflict_carry_the_resource() {
        let cm = rt("", "configmaps", "ConfigMap");
        assert_eq!(
            status(ApiError::already_exists(&cm, "c")),
            with_details(
                failure(409, "AlreadyExists", "configmaps \"c\" already exists"),
                json!({"name": "c", "kind": "configmaps"})
            )
        );
        assert_eq!(
            status(ApiError::conflict(&cm, "c")),
            with_details(
                failure(409, "Conflict", "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"),
                json!({"name": "c", "kind": "configmaps"})
            )
        );
    }

    #[test]
    fn an_apply_conflict_lists_each_field_as_a_cause() {
        let e = ApiError::ApplyConflict {
            message: "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.x".into(),
            conflicts: vec![("\"kubectl\"".into(), ".spec.x".into())],
        };
        assert_eq!(
            status(e),
            with_details(
                failure(
                    409,
                    "Conflict",
                    "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.x"
                ),
                json!({"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".spec.x"}]})
            )
        );
    }

    #[test]
    fn invalid_is_new_invalid() {
        let svc = rt("", "services", "Service");
        // One error: the message is the error itself; the cause splits field and body.
        assert_eq!(
            status(ApiError::invalid(
                &svc,
                "web",
                vec!["spec.type: Unsupported value: \"X\"".into()]
            )),
            with_details(
                failure(
                    422,
                    "Invalid",
                    "Service \"web\" is invalid: spec.type: Unsupported value: \"X\""
                ),
                json!({"name": "web", "kind": "Service", "causes": [
                    {"reason": "FieldValueNotSupported", "message": "Unsupported value: \"X\"", "field": "spec.type"}]})
            )
        );
        // Several: Go's aggregate, in brackets and without repeats; the group in details.
        let pool = rt(
            "cilium.io",
            "ciliumloadbalancerippools",
            "CiliumLoadBalancerIPPool",
        );
        let e = ApiError::invalid(
            &pool,
            "lan",
            vec![
                "spec.blocks: Required value".into(),
                "metadata.name: Too long: may not be more than 63 bytes".into(),
                "spec.blocks: Required value".into(),
            ],
        );
        let s = status(e);
        assert_eq!(s["message"], "CiliumLoadBalancerIPPool.cilium.io \"lan\" is invalid: [spec.blocks: Required value, metadata.name: Too long: may not be more than 63 bytes]");
        assert_eq!(s["details"]["group"], "cilium.io");
        assert_eq!(s["details"]["kind"], "CiliumLoadBalancerIPPool");
        let reasons: Vec<&str> = s["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["reason"].as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            [
                "FieldValueRequired",
                "FieldValueTooLong",
                "FieldValueRequired"
            ]
        );
        // No kind and no name (a patch that breaks the object): both left out, as omitempty does.
        let e = ApiError::Invalid {
            kind: GroupKind::default(),
            name: String::new(),
            errors: vec!["patch: Invalid value: \"{}\": bad".into()],
        };
        assert_eq!(
            status(e),
            with_details(
                failure(
                    422,
                    "Invalid",
                    " \"\" is invalid: patch: Invalid value: \"{}\": bad"
                ),
                json!({"causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: \"{}\": bad", "field": "patch"}]})
            )
        );
    }

    #[test]
    fn field_error_types_map_to_their_causes() {
        for (body, cause) in [
            ("Invalid value: 1: no", "FieldValueInvalid"),
            ("Required value", "FieldValueRequired"),
            ("Forbidden: no", "FieldValueForbidden"),
            ("Duplicate value: 1", "FieldValueDuplicate"),
            ("Not found: 1", "FieldValueNotFound"),
            ("Unsupported value: 1", "FieldValueNotSupported"),
            (
                "Too long: may not be more than 1 bytes",
                "FieldValueTooLong",
            ),
            (
                "Too many: 3: must have at most 2 items",
                "FieldValueTooMany",
            ),
            ("Internal error: range is full", "InternalError"),
        ] {
            assert_eq!(field_cause(body), cause, "{body}");
        }
    }

    #[test]
    fn rejected_is_a_generic_422() {
        assert_eq!(
            status(ApiError::Rejected {
                cause: "testing value /spec/type failed: test failed".into()
            }),
            with_details(
                failure(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request"
                ),
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "testing value /spec/type failed: test failed"}]})
            )
        );
    }

    #[test]
    fn forbidden_has_details_only_for_resources() {
        let e = ApiError::Forbidden {
            message: "services \"web\" is forbidden: User \"u\" cannot get resource \"services\" in API group \"\" in the namespace \"demo\"".into(),
            resource: Some((GroupResource::core("services"), "web".into())),
        };
        let s = status(e);
        assert_eq!(
            (s["code"].as_u64(), s["reason"].as_str()),
            (Some(403), Some("Forbidden"))
        );
        assert_eq!(s["details"], json!({"name": "web", "kind": "services"}));
        let e = ApiError::Forbidden {
            message: "forbidden: User \"u\" cannot get path \"/metrics\"".into(),
            resource: None,
        };
        assert!(status(e).get("details").is_none());
    }

    #[test]
    fn the_fixed_texts() {
        for (e, code, reason, message) in [
            (
                ApiError::bad_request("invalid limit \"x\""),
                400,
                "BadRequest",
                "invalid limit \"x\"",
            ),
            (ApiError::Unauthorized, 401, "Unauthorized", "Unauthorized"),
            (
                ApiError::MethodNotAllowed,
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
            (
                ApiError::NotAcceptable,
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
            ),
            (
                ApiError::Expired("too old resource version: 1 (5)".into()),
                410,
                "Expired",
                "too old resource version: 1 (5)",
            ),
            (
                ApiError::RequestEntityTooLarge { limit: 3145728 },
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
            ),
            (
                ApiError::UnsupportedMediaType(
                    "the body of the request was in an unknown format".into(),
                ),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format",
            ),
            (
                ApiError::Internal("boom".into()),
                500,
                "InternalError",
                "boom",
            ),
        ] {
            assert_eq!(status(e), failure(code, reason, message));
        }
    }

    #[test]
    fn injected_faults_take_the_reason_of_their_code() {
        for (code, reason) in [
            (429, "TooManyRequests"),
            (503, "ServiceUnavailable"),
            (504, "Timeout"),
            (410, "Expired"),
            (502, "InternalError"),
        ] {
            assert_eq!(
                status(ApiError::Injected { code }),
                failure(code, reason, &format!("injected fault: {code}"))
            );
        }
    }

    #[test]
    fn the_response_is_the_status_as_json() {
        let r = ApiError::NoSuchPath.into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
