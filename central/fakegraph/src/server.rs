//! The fake's HTTP endpoints, as the Cloud API serves them.
//!
//! - `POST /{version}/{phone_number_id}/messages` → [`send`]
//! - `POST /{version}/{phone_number_id}/media` → [`upload`]
//! - `GET /{version}/{media_id}` → [`media_info`] (the URL to download it from)
//! - `GET /download/{media_id}` → [`download`]
//!
//! Each checks the bearer token first (190, HTTP 401), then the version and the phone
//! number id in the path (100), then the 5xx burst and the throughput limit (130429), then
//! the body. An accepted send may be made to hang before its answer
//! ([`crate::FakeGraph::hang_next`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::Shared;
use crate::error::GraphError;
use crate::outbound::{self, Content};
use crate::record::{Direction, MAX_MEDIA_BYTES, Media, Message, Status};

/// The 24-hour customer service window, in seconds.
pub const WINDOW_SECS: i64 = 24 * 60 * 60;

/// The fake's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/download/{media_id}", get(download))
        .route("/{version}/{media_id}", get(media_info))
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route("/{version}/{phone_number_id}/media", post(upload))
        .layer(DefaultBodyLimit::max(MAX_MEDIA_BYTES + 64 * 1024))
        .with_state(shared)
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), GraphError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = shared.config.access_token.as_bytes();
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(expected)) {
        return Err(GraphError::access_token());
    }
    Ok(())
}

fn check_path(shared: &Shared, version: &str, phone_number_id: &str) -> Result<(), GraphError> {
    if version != shared.config.api_version {
        return Err(GraphError::invalid_parameter(format!(
            "Unknown path components: API version {version:?}"
        )));
    }
    if phone_number_id != shared.config.phone_number_id {
        return Err(GraphError::invalid_parameter(format!(
            "Unsupported post request. Object with ID '{phone_number_id}' does not exist"
        )));
    }
    Ok(())
}

/// The 5xx burst and the throughput limit, which every send request passes through.
fn admit(shared: &Shared) -> Result<(), GraphError> {
    let mut c = shared.controls();
    if c.fail_next > 0 {
        c.fail_next -= 1;
        let status =
            StatusCode::from_u16(c.fail_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(GraphError::server(status));
    }
    if let Some(limit) = c.rate_per_sec {
        let now = Instant::now();
        while c
            .recent_sends
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            c.recent_sends.pop_front();
        }
        if c.recent_sends.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return Err(GraphError::rate_limited());
        }
        c.recent_sends.push_back(now);
    }
    Ok(())
}

/// `POST /{version}/{phone_number_id}/messages`.
pub(crate) async fn send(
    State(shared): State<Arc<Shared>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    authorize(&shared, &headers)?;
    check_path(&shared, &version, &phone_number_id)?;
    admit(&shared)?;
    let request = outbound::parse(&body)?;
    let now = shared.clock.now();
    let id = crate::ids::wamid();
    {
        let mut record = shared.record();
        if !record.users.contains_key(&request.to) {
            return Err(GraphError::undeliverable(&request.to));
        }
        let in_window = record
            .last_inbound
            .get(&request.to)
            .is_some_and(|last| now - last <= WINDOW_SECS);
        if !request.content.is_template() && !in_window {
            return Err(GraphError::outside_window());
        }
        if let Content::Image {
            media_id: Some(media),
            ..
        } = &request.content
            && !record.media.iter().any(|m| &m.id == media)
        {
            return Err(GraphError::invalid_parameter(format!(
                "image.id {media} is not an uploaded media id"
            )));
        }
        record.push(Message {
            seq: 0,
            id: id.clone(),
            wa_id: request.to.clone(),
            direction: Direction::Outbound,
            content: request.content,
            context: request.context,
            at: now,
            status: Status::Accepted,
            api_version: Some(version),
            callback_data: request.callback_data.clone(),
        });
    }
    shared.changed.notify_waiters();
    shared.deliver_statuses(&id, &request.to, request.callback_data.as_deref());
    let hang = {
        let mut c = shared.controls();
        let hang = c.hang_next > 0;
        c.hang_next = c.hang_next.saturating_sub(1);
        hang
    };
    if hang {
        // Accepted, and the answer does not come: the client cannot know.
        let released = shared.unhang.notified();
        let _ = tokio::time::timeout(Duration::from_secs(600), released).await;
    }
    Ok(axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": request.to, "wa_id": request.to }],
        "messages": [{ "id": id }],
    }))
    .into_response())
}

/// The media types the fake takes, with the bytes each must start with.
const MEDIA_TYPES: [(&str, &[u8]); 2] = [
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
];

/// `POST /{version}/{phone_number_id}/media`: multipart `file`, `type`,
/// `messaging_product`.
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, GraphError> {
    authorize(&shared, &headers)?;
    check_path(&shared, &version, &phone_number_id)?;
    admit(&shared)?;
    let mut multipart =
        multipart.map_err(|e| GraphError::media(format!("not a multipart form: {e}")))?;
    let (mut product, mut kind, mut file) = (None, None, None);
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| GraphError::media(format!("the form cannot be read: {e}")))?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or("").to_owned();
        let file_type = field.content_type().map(str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| GraphError::media(format!("the form cannot be read: {e}")))?;
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "type" => kind = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = Some((bytes, file_type)),
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return Err(GraphError::required("messaging_product"));
    }
    let Some((bytes, _)) = file else {
        return Err(GraphError::required("file"));
    };
    let Some(kind) = kind else {
        return Err(GraphError::required("type"));
    };
    let Some((mime, magic)) = MEDIA_TYPES.iter().find(|(m, _)| *m == kind) else {
        return Err(GraphError::media(format!(
            "type {kind:?} is not a supported image type"
        )));
    };
    if bytes.is_empty() || bytes.len() > MAX_MEDIA_BYTES {
        return Err(GraphError::media(format!(
            "an image must hold 1 to {MAX_MEDIA_BYTES} bytes"
        )));
    }
    if !bytes.starts_with(magic) {
        return Err(GraphError::media(format!("the file is not {mime}")));
    }
    let id = crate::ids::media_id();
    shared.record().add_media(Media {
        id: id.clone(),
        mime_type: (*mime).to_owned(),
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        bytes: bytes.to_vec(),
    });
    shared.changed.notify_waiters();
    Ok(axum::Json(json!({ "id": id })).into_response())
}

/// `GET /{version}/{media_id}`: where to download it.
pub(crate) async fn media_info(
    State(shared): State<Arc<Shared>>,
    Path((version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    authorize(&shared, &headers)?;
    if version != shared.config.api_version {
        return Err(GraphError::invalid_parameter("Unknown path components"));
    }
    let record = shared.record();
    let media = record
        .media
        .iter()
        .find(|m| m.id == media_id)
        .ok_or_else(|| {
            GraphError::invalid_parameter(format!(
                "Unsupported get request. Object with ID '{media_id}' does not exist"
            ))
        })?;
    Ok(axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/download/{}", shared.base_url, media.id),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.bytes.len(),
        "id": media.id,
    }))
    .into_response())
}

/// `GET /download/{media_id}`: the file.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    authorize(&shared, &headers)?;
    let record = shared.record();
    let media = record
        .media
        .iter()
        .find(|m| m.id == media_id)
        .ok_or_else(|| GraphError::invalid_parameter("no such media"))?;
    Ok((
        [(header::CONTENT_TYPE, media.mime_type.clone())],
        media.bytes.clone(),
    )
        .into_response())
}
