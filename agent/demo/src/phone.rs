//! The demo's phone: a chat with the brand's WhatsApp number in the browser.
//!
//! The chat is the fake Graph API's record ([`tillpass_fakegraph`]): what central sends
//! through the Cloud API shows as the brand's messages; what the visitor types or taps
//! becomes the customer's message, which the fake delivers to central's webhook signed as
//! Meta does. A pass image has a button "show to the scanner": the phone holds the image
//! up to the till's scanner — the QR in the PNG is decoded and its text typed into the
//! demo's virtual serial scanner, as a scanner reading the screen would.
//!
//! ## Map
//! - [`Phone`]: the fake, the visitor's number, the scanner; [`router`] serves it:
//!   - `GET /phone` — the page (`phone.html`: HTML, CSS and JS in one file);
//!   - `GET /phone/api/chat?after=N` — the chat's messages after N, as [`ChatView`];
//!   - `POST /phone/api/send {text}` — the visitor writes;
//!   - `POST /phone/api/tap {message, id}` — the visitor taps a reply button (the
//!     message that carried it, and the button's id);
//!   - `POST /phone/api/scan {media}` — an image's QR to the scanner;
//!   - `GET /phone/media/{id}` — an image the brand sent.
//! - [`read_qr`]: the one QR code in a PNG.
//!
//! Errors are `application/problem+json` with a stable code.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tillpass_fakegraph::{Content, Direction, FakeGraph, Status};
use tillpass_protocol::problem::{ErrorCode, MEDIA_TYPE, Problem};

/// The page.
pub const PAGE: &str = include_str!("phone.html");
/// The longest message the visitor may type (WhatsApp's own limit).
pub const MAX_TEXT: usize = 4096;

/// Where the phone's scans go: the virtual scanner's pseudo-terminal (or, in tests, a
/// buffer).
pub type ScanSink = Arc<Mutex<dyn Write + Send>>;

/// The visitor's phone.
pub struct Phone {
    pub fake: FakeGraph,
    /// The visitor's WhatsApp id (digits) and profile name.
    pub wa_id: String,
    pub name: String,
    /// The brand, as the chat's title shows it.
    pub brand: String,
    pub scanner: ScanSink,
}

/// A problem answer.
struct Refusal(Box<Problem>);

impl Refusal {
    fn new(code: ErrorCode, detail: impl Into<String>) -> Refusal {
        Refusal(Box::new(Problem::new(code, detail)))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, MEDIA_TYPE)],
            self.0.to_json(),
        )
            .into_response()
    }
}

/// The phone's routes.
pub fn router(phone: Arc<Phone>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/phone") }),
        )
        .route("/phone", get(page))
        .route("/phone/api/chat", get(chat))
        .route("/phone/api/send", post(send))
        .route("/phone/api/tap", post(tap))
        .route("/phone/api/scan", post(scan))
        .route("/phone/media/{id}", get(media))
        .fallback(|| async { Refusal::new(ErrorCode::NotFound, "no such page") })
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(phone)
}

async fn page() -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                 img-src 'self'",
            ),
        ],
        Html(PAGE),
    )
        .into_response()
}

/// The chat as the page draws it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatView {
    pub brand: String,
    pub number: String,
    pub me: String,
    /// The last message's `seq` (ask for what follows it next time).
    pub last: u64,
    pub messages: Vec<Bubble>,
}

/// One message, drawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bubble {
    pub seq: u64,
    pub id: String,
    /// `true`: the visitor wrote it.
    pub mine: bool,
    /// Seconds since the epoch.
    pub at: i64,
    /// `accepted`, `sent`, `delivered`, `read`.
    pub status: String,
    pub text: Option<String>,
    /// An image: its URL on this page's server.
    pub image: Option<String>,
    pub media: Option<String>,
    pub buttons: Vec<ButtonView>,
    /// A template message: its name.
    pub template: Option<String>,
}

/// A reply button.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ButtonView {
    pub id: String,
    pub title: String,
}

fn bubble(m: &tillpass_fakegraph::Message) -> Bubble {
    let mut b = Bubble {
        seq: m.seq,
        id: m.id.clone(),
        mine: m.direction == Direction::Inbound,
        at: m.at,
        status: match m.status {
            Status::Accepted => "accepted",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
        .to_owned(),
        text: None,
        image: None,
        media: None,
        buttons: Vec::new(),
        template: None,
    };
    match &m.content {
        Content::Text { body } => b.text = Some(body.clone()),
        Content::Image {
            media_id,
            link,
            caption,
        } => {
            b.text = caption.clone();
            b.image = media_id
                .as_ref()
                .map(|id| format!("/phone/media/{id}"))
                .or_else(|| link.clone());
            b.media = media_id.clone();
        }
        Content::Buttons {
            header,
            body,
            footer,
            buttons,
        } => {
            let parts: Vec<&str> = [header.as_deref(), Some(body.as_str()), footer.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            b.text = Some(parts.join("\n\n"));
            b.buttons = buttons
                .iter()
                .map(|x| ButtonView {
                    id: x.id.clone(),
                    title: x.title.clone(),
                })
                .collect();
        }
        Content::Template {
            name, parameters, ..
        } => {
            b.template = Some(name.clone());
            b.text = Some(parameters.join("\n"));
        }
        Content::ButtonReply { title, .. } => b.text = Some(title.clone()),
    }
    b
}

#[derive(Debug, Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn chat(
    State(phone): State<Arc<Phone>>,
    query: Result<Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ChatView>, Refusal> {
    let Query(After { after }) =
        query.map_err(|e| Refusal::new(ErrorCode::BadQuery, e.body_text()))?;
    let all = phone.fake.chat(&phone.wa_id, 0);
    let last = all.last().map_or(0, |m| m.seq);
    // Statuses change after a message is first drawn: send every message the page may
    // still show as not yet read, and the new ones.
    let messages = all
        .iter()
        .filter(|m| m.seq > after || m.status != Status::Read)
        .map(bubble)
        .collect();
    Ok(axum::Json(ChatView {
        brand: phone.brand.clone(),
        number: format!("+{}", phone.fake.config().display_phone_number),
        me: phone.name.clone(),
        last,
        messages,
    }))
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::new(ErrorCode::MalformedJson, e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    text: String,
}

async fn send(
    State(phone): State<Arc<Phone>>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, Refusal> {
    let Typed { text } = json_body(&body)?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::Invalid,
            format!("a message is 1 to {MAX_TEXT} characters, without control characters"),
        ));
    }
    let id = phone.fake.customer_text(&phone.wa_id, text);
    Ok(axum::Json(serde_json::json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tap {
    /// The message whose button was tapped.
    message: String,
    id: String,
}

async fn tap(
    State(phone): State<Arc<Phone>>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, Refusal> {
    let Tap { message, id } = json_body(&body)?;
    // Only a button the brand offered in this chat can be tapped, with its own title.
    let offered = phone
        .fake
        .chat(&phone.wa_id, 0)
        .into_iter()
        .find(|m| m.id == message && m.direction == Direction::Outbound)
        .and_then(|m| match m.content {
            Content::Buttons { buttons, .. } => buttons.into_iter().find(|b| b.id == id),
            _ => None,
        })
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, "no such button in this chat"))?;
    let reply =
        phone
            .fake
            .customer_button(&phone.wa_id, Some(&message), &offered.id, &offered.title);
    Ok(axum::Json(serde_json::json!({ "id": reply })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    media: String,
}

async fn scan(
    State(phone): State<Arc<Phone>>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, Refusal> {
    let Scan { media } = json_body(&body)?;
    let png = sent_image(&phone, &media)?;
    let text = read_qr(&png.bytes).map_err(|e| Refusal::new(ErrorCode::Invalid, e))?;
    let mut scanner = phone
        .scanner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A serial scanner ends each read with CR.
    scanner
        .write_all(format!("{text}\r").as_bytes())
        .and_then(|()| scanner.flush())
        .map_err(|e| {
            Refusal::new(
                ErrorCode::InternalError,
                format!("the scanner did not take it: {e}"),
            )
        })?;
    Ok(axum::Json(serde_json::json!({ "scanned": true })))
}

/// An image the brand sent in this chat (and only such: the page shows no other).
fn sent_image(phone: &Phone, media: &str) -> Result<tillpass_fakegraph::Media, Refusal> {
    let in_chat = phone.fake.chat(&phone.wa_id, 0).iter().any(|m| {
        m.direction == Direction::Outbound
            && matches!(&m.content, Content::Image { media_id: Some(id), .. } if id == media)
    });
    in_chat
        .then(|| phone.fake.media(media))
        .flatten()
        .ok_or_else(|| Refusal::new(ErrorCode::NotFound, "no such image in this chat"))
}

async fn media(State(phone): State<Arc<Phone>>, Path(id): Path<String>) -> Response {
    match sent_image(&phone, &id) {
        Ok(m) => (
            [
                (header::CONTENT_TYPE, m.mime_type),
                (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
            ],
            m.bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The one QR code in a PNG: its text. Errors say why not.
pub fn read_qr(png_bytes: &[u8]) -> Result<String, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let size = reader
        .output_buffer_size()
        .filter(|s| *s <= 64 * 1024 * 1024)
        .ok_or("the image is too large")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("not a PNG: {e}"))?;
    let channels = info.color_type.samples();
    let width = usize::try_from(info.width).map_err(|_| "the image is too large")?;
    let height = usize::try_from(info.height).map_err(|_| "the image is too large")?;
    let line = info.line_size;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        buf.get(y * line + x * channels).copied().unwrap_or(255)
    });
    let grids = image.detect_grids();
    let [grid] = grids.as_slice() else {
        return Err(format!("{} QR codes in the image, not one", grids.len()));
    };
    grid.decode()
        .map(|(_, text)| text)
        .map_err(|e| format!("the QR code cannot be read: {e}"))
}
