//! Authentication (service-account bearer tokens, the admin), impersonation, authorization with
//! [`super::rbac`], and the endpoints that go with them: TokenRequest, SelfSubjectAccessReview,
//! SubjectAccessReview and SelfSubjectReview.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;
use ring::hmac;
use serde_json::{json, Value};

use super::http::{ApiError, GroupKind, GroupResource};
use super::rbac::{self, Attributes, Decision, Policy, User};
use super::LabState;

/// Who a request without credentials is: the lab's kubeconfig carries none, and stays all-powerful.
pub(crate) const ADMIN_USER: &str = "lab-admin";
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The token lifetime when a TokenRequest asks for none (the API's default), and its bounds.
const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

fn admin() -> User {
    User {
        name: ADMIN_USER.into(),
        groups: vec![rbac::PRIVILEGED_GROUP.into(), "system:authenticated".into()],
        ..Default::default()
    }
}

fn service_account_user(ns: &str, name: &str, uid: &str) -> User {
    User {
        name: format!("system:serviceaccount:{ns}:{name}"),
        uid: uid.to_string(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        extra: BTreeMap::new(),
    }
}

/// A fresh random HMAC key: tokens are valid for the lab that issued them only.
pub(crate) fn new_token_key() -> hmac::Key {
    let rng = ring::rand::SystemRandom::new();
    hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
        // Without an entropy source, fall back to the clock: still unique per lab start.
        let seed = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
        hmac::Key::new(hmac::HMAC_SHA256, &seed)
    })
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a service-account token, shaped as the real issuer's (a JWT, HS256 here).
pub(crate) fn sign_token(key: &hmac::Key, claims: &Value) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64url(&serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{body}");
    let sig = hmac::sign(key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}

/// The claims of a token this lab signed, if the signature holds and it is not expired at `now`.
pub(crate) fn verify_token(key: &hmac::Key, token: &str, now: i64) -> Option<Value> {
    let (signing_input, sig) = token.rsplit_once('.')?;
    let (_, body) = signing_input.split_once('.')?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .ok()?;
    hmac::verify(key, signing_input.as_bytes(), &sig).ok()?;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?,
    )
    .ok()?;
    let exp = claims["exp"].as_i64()?;
    let nbf = claims["nbf"].as_i64().unwrap_or(i64::MIN);
    (now < exp && now >= nbf).then_some(claims)
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized
}

fn store_get(state: &LabState, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    store
        .get(&(group.to_string(), plural.to_string()), ns, name)
        .cloned()
}

/// The user a request's credentials name: none is the admin, a bearer token must be one this lab
/// issued for a ServiceAccount that still exists.
pub(crate) fn authenticate(state: &LabState, headers: &HeaderMap) -> Result<User, ApiError> {
    let Some(h) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(admin());
    };
    let token = h
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    let claims = verify_token(&state.token_key, token, jiff::Timestamp::now().as_second())
        .ok_or_else(unauthorized)?;
    let k = &claims["kubernetes.io"];
    let ns = k["namespace"].as_str().unwrap_or_default();
    let name = k["serviceaccount"]["name"].as_str().unwrap_or_default();
    let uid = k["serviceaccount"]["uid"].as_str().unwrap_or_default();
    // A token outlives nothing: a deleted (or deleted and recreated) ServiceAccount voids it.
    let sa = store_get(state, "", "serviceaccounts", ns, name).ok_or_else(unauthorized)?;
    if sa["metadata"]["uid"].as_str() != Some(uid) {
        return Err(unauthorized());
    }
    Ok(service_account_user(ns, name, uid))
}

/// Decides `attrs` for `user` with the RBAC objects the lab holds.
pub(crate) fn decide(state: &LabState, user: &User, attrs: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == rbac::PRIVILEGED_GROUP) {
        return Decision::Allow(String::new());
    }
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = |p: &str| ("rbac.authorization.k8s.io".to_string(), p.to_string());
    let policy = Policy {
        roles: store.list(&key("roles"), None).collect(),
        cluster_roles: store.list(&key("clusterroles"), None).collect(),
        role_bindings: store.list(&key("rolebindings"), None).collect(),
        cluster_role_bindings: store.list(&key("clusterrolebindings"), None).collect(),
    };
    rbac::authorize(&policy, user, attrs)
}

fn forbidden(user: &User, attrs: &Attributes, reason: &str) -> ApiError {
    let resource = match attrs {
        Attributes::Resource {
            group,
            resource,
            name,
            ..
        } => Some((
            GroupResource {
                group: group.clone(),
                resource: resource.clone(),
            },
            name.clone(),
        )),
        Attributes::NonResource { .. } => None,
    };
    ApiError::Forbidden {
        message: rbac::forbidden_message(user, attrs, reason),
        resource,
    }
}

/// 403 unless `user` may do `attrs`.
pub(crate) fn authorize(state: &LabState, user: &User, attrs: &Attributes) -> Result<(), ApiError> {
    match decide(state, user, attrs) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(forbidden(user, attrs, &reason)),
    }
}

fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Applies `Impersonate-*` headers: each impersonated user, group, uid and extra must be allowed
/// (verb `impersonate`) for the requester, who then acts as the impersonated user.
pub fn impersonate(state: &LabState, user: User, headers: &HeaderMap) -> Result<User, ApiError> {
    let name = header_values(headers, "impersonate-user");
    let groups = header_values(headers, "impersonate-group");
    let uid = header_values(headers, "impersonate-uid");
    let extra: Vec<(String, &str)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("impersonate-extra-")?;
            let key = form_urlencoded::parse(format!("k={key}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            Some((key, v.to_str().ok()?))
        })
        .collect();
    let Some(target) = name.first() else {
        if groups.is_empty() && uid.is_empty() && extra.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::Internal(
            "Internal error occurred: requested impersonation is invalid: impersonating groups, uid or extra requires a user".into(),
        ));
    };
    let check = |resource: &str, group: &str, ns: &str, name: &str| {
        let attrs = Attributes::Resource {
            verb: "impersonate".into(),
            namespace: ns.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: String::new(),
            name: name.into(),
        };
        authorize(state, &user, &attrs)
    };
    let sa = target
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'));
    match sa {
        Some((ns, n)) => check("serviceaccounts", "", ns, n)?,
        None => check("users", "", "", target)?,
    }
    for g in &groups {
        check("groups", "", "", g)?;
    }
    for u in &uid {
        check("uids", "authentication.k8s.io", "", u)?;
    }
    for (k, v) in &extra {
        check(&format!("userextras/{k}"), "authentication.k8s.io", "", v)?;
    }
    let mut out = User {
        name: target.to_string(),
        uid: uid.first().map(|s| s.to_string()).unwrap_or_default(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        extra: BTreeMap::new(),
    };
    for (k, v) in extra {
        out.extra.entry(k).or_default().push(v.to_string());
    }
    if let (Some((ns, _)), true) = (sa, out.groups.is_empty()) {
        out.groups = vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ];
    }
    let implied = if out.name == "system:anonymous" {
        "system:unauthenticated"
    } else {
        "system:authenticated"
    };
    if !out.groups.iter().any(|g| g == implied) {
        out.groups.push(implied.into());
    }
    Ok(out)
}

/// Which lab-served endpoint of this module a request is, if any.
pub(crate) enum Endpoint {
    TokenRequest { namespace: String, name: String },
    SelfSubjectAccessReview,
    SubjectAccessReview,
    SelfSubjectRulesReview,
    SelfSubjectReview,
}

pub fn endpoint(path: &str) -> Option<Endpoint> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["api", "v1", "namespaces", ns, "serviceaccounts", name, "token"] => {
            Some(Endpoint::TokenRequest {
                namespace: ns.to_string(),
                name: name.to_string(),
            })
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => {
            Some(Endpoint::SelfSubjectAccessReview)
        }
        ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"] => {
            Some(Endpoint::SubjectAccessReview)
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectrulesreviews"] => {
            Some(Endpoint::SelfSubjectRulesReview)
        }
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            Some(Endpoint::SelfSubjectReview)
        }
        _ => None,
    }
}

fn expect_kind(obj: &Value, api_version: &str, kind: &str) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized: not a JSON object",
        ));
    }
    match (obj["apiVersion"].as_str(), obj["kind"].as_str()) {
        (Some(av), Some(k)) if av != api_version || k != kind => Err(ApiError::bad_request(
            format!("the API version in the data ({av}) does not match the expected API version ({api_version})"),
        )),
        _ => Ok(()),
    }
}

/// Serves one of this module's endpoints (POST only): the status code and the response body.
pub fn serve(
    state: &Arc<LabState>,
    user: &User,
    ep: Endpoint,
    obj: Value,
) -> Result<(u16, Value), ApiError> {
    match ep {
        Endpoint::TokenRequest { namespace, name } => token_request(state, &namespace, &name, obj),
        Endpoint::SelfSubjectAccessReview => {
            expect_kind(&obj, "authorization.k8s.io/v1", "SelfSubjectAccessReview")?;
            let status = review(state, user, &obj, "SelfSubjectAccessReview")?;
            Ok((201, reviewed(obj, "SelfSubjectAccessReview", status)))
        }
        Endpoint::SubjectAccessReview => {
            expect_kind(&obj, "authorization.k8s.io/v1", "SubjectAccessReview")?;
            let spec = &obj["spec"];
            let subject = User {
                name: spec["user"].as_str().unwrap_or_default().to_string(),
                uid: spec["uid"].as_str().unwrap_or_default().to_string(),
                groups: spec["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.as_str().map(String::from))
                    .collect(),
                extra: serde_json::from_value(spec["extra"].clone()).unwrap_or_default(),
            };
            if subject.name.is_empty() && subject.groups.is_empty() {
                return Err(ApiError::Invalid {
                    kind: GroupKind::new("authorization.k8s.io", "SubjectAccessReview"),
                    name: String::new(),
                    errors: vec!["spec.user: Invalid value: \"\": at least one of user or group must be specified".into()],
                });
            }
            let status = review(state, &subject, &obj, "SubjectAccessReview")?;
            Ok((201, reviewed(obj, "SubjectAccessReview", status)))
        }
        Endpoint::SelfSubjectRulesReview => {
            expect_kind(&obj, "authorization.k8s.io/v1", "SelfSubjectRulesReview")?;
            let ns = obj["spec"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let status = rules_review(state, user, &ns);
            Ok((201, reviewed(obj, "SelfSubjectRulesReview", status)))
        }
        Endpoint::SelfSubjectReview => {
            expect_kind(&obj, "authentication.k8s.io/v1", "SelfSubjectReview")?;
            let mut info = json!({"username": user.name, "groups": user.groups});
            if !user.uid.is_empty() {
                info["uid"] = json!(user.uid);
            }
            if !user.extra.is_empty() {
                info["extra"] = json!(user.extra);
            }
            Ok((
                201,
                json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"creationTimestamp": null}, "status": {"userInfo": info}}),
            ))
        }
    }
}

/// The status of a SelfSubjectRulesReview: every rule that applies in `ns`, split as the API does.
fn rules_review(state: &LabState, user: &User, ns: &str) -> Value {
    let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = |p: &str| ("rbac.authorization.k8s.io".to_string(), p.to_string());
    let policy = Policy {
        roles: store.list(&key("roles"), None).collect(),
        cluster_roles: store.list(&key("clusterroles"), None).collect(),
        role_bindings: store.list(&key("rolebindings"), None).collect(),
        cluster_role_bindings: store.list(&key("clusterrolebindings"), None).collect(),
    };
    let (rules, errors) = rbac::rules_for(&policy, user, ns);
    let pick = |r: &Value, keys: &[&str]| {
        let mut o = json!({"verbs": r["verbs"].clone()});
        for k in keys {
            if r[*k].as_array().is_some_and(|a| !a.is_empty()) {
                o[*k] = r[*k].clone();
            }
        }
        o
    };
    let non_empty = |r: &Value, k: &str| r[k].as_array().is_some_and(|a| !a.is_empty());
    let resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| non_empty(r, "resources"))
        .map(|r| pick(r, &["apiGroups", "resources", "resourceNames"]))
        .collect();
    let non_resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| non_empty(r, "nonResourceURLs"))
        .map(|r| pick(r, &["nonResourceURLs"]))
        .collect();
    let mut st = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        st["evaluationError"] = json!(errors.join(", "));
    }
    st
}

fn reviewed(mut obj: Value, kind: &str, status: Value) -> Value {
    obj["apiVersion"] = json!("authorization.k8s.io/v1");
    obj["kind"] = json!(kind);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["status"] = status;
    obj
}

/// The status of an access review of `obj.spec` for `user`.
fn review(state: &LabState, user: &User, obj: &Value, kind: &str) -> Result<Value, ApiError> {
    let spec = &obj["spec"];
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let attrs = match (
        spec["resourceAttributes"].as_object(),
        spec["nonResourceAttributes"].as_object(),
    ) {
        (Some(_), None) => {
            let r = &spec["resourceAttributes"];
            Attributes::Resource {
                verb: s(r, "verb"),
                namespace: s(r, "namespace"),
                group: s(r, "group"),
                resource: s(r, "resource"),
                subresource: s(r, "subresource"),
                name: s(r, "name"),
            }
        }
        (None, Some(_)) => {
            let r = &spec["nonResourceAttributes"];
            Attributes::NonResource {
                verb: s(r, "verb"),
                path: s(r, "path"),
            }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::Invalid {
                kind: GroupKind::new("authorization.k8s.io", kind),
                name: String::new(),
                errors: vec!["spec.nonResourceAttributes: Invalid value: \"null\": cannot be specified in combination with resourceAttributes".into()],
            })
        }
        (None, None) => {
            return Err(ApiError::Invalid {
                kind: GroupKind::new("authorization.k8s.io", kind),
                name: String::new(),
                errors: vec!["spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into()],
            })
        }
    };
    Ok(match decide(state, user, &attrs) {
        Decision::Allow(reason) => {
            let mut st = json!({"allowed": true});
            if !reason.is_empty() {
                st["reason"] = json!(reason);
            }
            st
        }
        Decision::Deny(reason) => {
            let mut st = json!({"allowed": false});
            if !reason.is_empty() {
                st["reason"] = json!(reason);
            }
            st
        }
    })
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn token_request(
    state: &Arc<LabState>,
    ns: &str,
    name: &str,
    mut obj: Value,
) -> Result<(u16, Value), ApiError> {
    expect_kind(&obj, "authentication.k8s.io/v1", "TokenRequest")?;
    let sa =
        store_get(state, "", "serviceaccounts", ns, name).ok_or_else(|| ApiError::NotFound {
            resource: GroupResource::core("serviceaccounts"),
            name: name.to_string(),
        })?;
    let uid = sa["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    let expiration = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION,
        v => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec.expirationSeconds must be an integer",
            )
        })?,
    };
    let invalid = |field_error: String| ApiError::Invalid {
        kind: GroupKind::new("authentication.k8s.io", "TokenRequest"),
        name: name.to_string(),
        errors: vec![field_error],
    };
    if expiration < MIN_EXPIRATION {
        return Err(invalid(format!("spec.expirationSeconds: Invalid value: {expiration}: may not specify a duration less than 10 minutes")));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(format!("spec.expirationSeconds: Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds")));
    }
    if !spec["boundObjectRef"].is_null() {
        return Err(invalid(
            "spec.boundObjectRef: Forbidden: the lab does not bind tokens to objects".into(),
        ));
    }
    let audiences: Vec<String> = match spec["audiences"].as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => vec![ISSUER.to_string()],
    };
    let now = jiff::Timestamp::now().as_second();
    let exp = now + expiration;
    let claims = json!({
        "aud": audiences, "exp": exp, "iat": now, "nbf": now, "iss": ISSUER,
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "jti": state.store.lock().unwrap_or_else(|p| p.into_inner()).next_uid(),
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}},
    });
    let token = sign_token(&state.token_key, &claims);
    spec["audiences"] = json!(audiences);
    spec["expirationSeconds"] = json!(expiration);
    spec["boundObjectRef"] = Value::Null;
    obj["apiVersion"] = json!("authentication.k8s.io/v1");
    obj["kind"] = json!("TokenRequest");
    obj["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    obj["status"] = json!({"token": token, "expirationTimestamp": rfc3339(exp)});
    Ok((201, obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_and_before_expiry() {
        let key = new_token_key();
        let claims = json!({"exp": 1000, "nbf": 10, "kubernetes.io": {"namespace": "n"}});
        let t = sign_token(&key, &claims);
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(verify_token(&key, &t, 999), Some(claims.clone()));
        assert_eq!(verify_token(&key, &t, 1000), None, "expired");
        assert_eq!(verify_token(&key, &t, 9), None, "not yet valid");
        assert_eq!(
            verify_token(&new_token_key(), &t, 500),
            None,
            "another lab's"
        );
        // Any change to the claims breaks the signature.
        let (h, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = b64url(&serde_json::to_vec(&json!({"exp": 99999})).unwrap());
        assert_eq!(
            verify_token(&key, &format!("{h}.{forged}.{sig}"), 500),
            None
        );
        for junk in ["", ".", "..", "a.b.c", "a.b", "\u{0}"] {
            assert_eq!(verify_token(&key, junk, 500), None);
        }
    }
}
