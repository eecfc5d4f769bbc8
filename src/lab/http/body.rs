//! Request bodies: read up to the server's limit, decoded from JSON, YAML or protobuf.

use axum::body::{Body, Bytes};

use super::ApiError;
use crate::lab::limits::MAX_BODY_BYTES;
use crate::lab::protobuf;
use serde_json::Value;

/// A request body up to the API server's limit; larger is its 413. The rest of a large body is
/// still read (up to a bound) so that the client, still sending, gets the 413 rather than a
/// reset connection.
pub(super) async fn read(body: Body) -> Result<Bytes, ApiError> {
    use futures::StreamExt;
    const DRAIN: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        seen += chunk.len();
        if seen <= MAX_BODY_BYTES {
            buf.extend_from_slice(&chunk);
        } else {
            buf = Vec::new();
            if seen > DRAIN {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::RequestEntityTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(Bytes::from(buf))
}

pub(super) fn unreadable(e: axum::Error) -> ApiError {
    ApiError::bad_request(format!("reading request body: {e}"))
}

/// The object a body holds, decoded as its content type says.
pub(super) fn parse(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body).map_err(|e| match e {
            protobuf::ProtoError::UnsupportedKind { .. } => {
                ApiError::UnsupportedMediaType(e.to_string())
            }
            e => ApiError::bad_request(format!("the object provided is unrecognized ({e})")),
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
    if content_type.contains("yaml") {
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (JSON decode error: {e})"
            ))
        })
    }
}
