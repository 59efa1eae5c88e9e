//! What a business sends: `POST /{version}/{phone_number_id}/messages` bodies, checked as
//! the Cloud API checks them.
//!
//! - [`parse`]: the JSON body → the recipient and a [`Content`], or Meta's error.
//! - [`Content`]: text, image, interactive reply buttons, template (and the customer's
//!   own messages, which the record keeps alongside).
//! - The limits: [`MAX_BUTTONS`], [`MAX_BUTTON_TITLE`], [`MAX_TEXT`], [`MAX_CAPTION`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::GraphError;

/// At most three reply buttons.
pub const MAX_BUTTONS: usize = 3;
/// A button title: at most 20 characters.
pub const MAX_BUTTON_TITLE: usize = 20;
/// A button id: at most 256 characters.
pub const MAX_BUTTON_ID: usize = 256;
/// A text message: at most 4,096 characters.
pub const MAX_TEXT: usize = 4096;
/// An image caption, an interactive body: at most 1,024 characters.
pub const MAX_CAPTION: usize = 1024;

/// A reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub id: String,
    pub title: String,
}

/// A message's content, either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// A text message.
    Text { body: String },
    /// An image by uploaded media id (or by link), with an optional caption.
    Image {
        media_id: Option<String>,
        link: Option<String>,
        caption: Option<String>,
    },
    /// A body with reply buttons.
    Buttons {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        buttons: Vec<Button>,
    },
    /// A pre-approved template: its name, language and the text parameters given.
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
        components: Value,
    },
    /// The customer tapped a reply button.
    ButtonReply { id: String, title: String },
}

/// A checked send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub to: String,
    pub content: Content,
    /// The message this one replies to (`context.message_id`).
    pub context: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn required<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, GraphError> {
    str_at(v, path).ok_or_else(|| GraphError::required(&path.join(".")))
}

fn bounded(name: &str, text: &str, max: usize) -> Result<(), GraphError> {
    if text.chars().count() > max {
        return Err(GraphError::value(format!(
            "{name} is longer than {max} characters"
        )));
    }
    Ok(())
}

/// Checks a send request as the Cloud API does.
pub fn parse(body: &[u8]) -> Result<SendRequest, GraphError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GraphError::invalid_parameter(format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(GraphError::invalid_parameter(
            "the body is not a JSON object",
        ));
    }
    if required(&v, &["messaging_product"])? != "whatsapp" {
        return Err(GraphError::invalid_parameter(
            "messaging_product must be \"whatsapp\"",
        ));
    }
    if let Some(kind) = v.get("recipient_type")
        && kind.as_str() != Some("individual")
    {
        return Err(GraphError::invalid_parameter(
            "recipient_type must be \"individual\"",
        ));
    }
    let to = required(&v, &["to"])?;
    let digits = to.trim_start_matches('+');
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GraphError::value("to is not a phone number"));
    }
    let context = str_at(&v, &["context", "message_id"]).map(str::to_owned);
    let kind = str_at(&v, &["type"]).unwrap_or("text");
    let content = match kind {
        "text" => {
            let body = required(&v, &["text", "body"])?;
            if body.trim().is_empty() {
                return Err(GraphError::value("text.body is empty"));
            }
            bounded("text.body", body, MAX_TEXT)?;
            Content::Text {
                body: body.to_owned(),
            }
        }
        "image" => {
            let media_id = str_at(&v, &["image", "id"]).map(str::to_owned);
            let link = str_at(&v, &["image", "link"]).map(str::to_owned);
            if media_id.is_none() && link.is_none() {
                return Err(GraphError::required("image.id"));
            }
            let caption = str_at(&v, &["image", "caption"]).map(str::to_owned);
            if let Some(caption) = &caption {
                bounded("image.caption", caption, MAX_CAPTION)?;
            }
            Content::Image {
                media_id,
                link,
                caption,
            }
        }
        "interactive" => buttons(&v)?,
        "template" => {
            let name = required(&v, &["template", "name"])?;
            let language = required(&v, &["template", "language", "code"])?;
            let components = v
                .get("template")
                .and_then(|t| t.get("components"))
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let Some(list) = components.as_array() else {
                return Err(GraphError::value("template.components is not a list"));
            };
            let parameters = list
                .iter()
                .filter_map(|c| c.get("parameters").and_then(Value::as_array))
                .flatten()
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
                .collect();
            Content::Template {
                name: name.to_owned(),
                language: language.to_owned(),
                parameters,
                components,
            }
        }
        other => {
            return Err(GraphError::invalid_parameter(format!(
                "type {other:?} is not one this number sends"
            )));
        }
    };
    Ok(SendRequest {
        to: digits.to_owned(),
        content,
        context,
    })
}

fn buttons(v: &Value) -> Result<Content, GraphError> {
    let kind = required(v, &["interactive", "type"])?;
    if kind != "button" {
        return Err(GraphError::invalid_parameter(format!(
            "interactive.type {kind:?}: only reply buttons (\"button\") are supported"
        )));
    }
    let body = required(v, &["interactive", "body", "text"])?;
    bounded("interactive.body.text", body, MAX_CAPTION)?;
    let header = str_at(v, &["interactive", "header", "text"]).map(str::to_owned);
    if let Some(h) = &header {
        bounded("interactive.header.text", h, 60)?;
    }
    let footer = str_at(v, &["interactive", "footer", "text"]).map(str::to_owned);
    if let Some(f) = &footer {
        bounded("interactive.footer.text", f, 60)?;
    }
    let list = v
        .get("interactive")
        .and_then(|i| i.get("action"))
        .and_then(|a| a.get("buttons"))
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::required("interactive.action.buttons"))?;
    if list.is_empty() || list.len() > MAX_BUTTONS {
        return Err(GraphError::value(format!(
            "interactive.action.buttons must hold 1 to {MAX_BUTTONS} buttons, not {}",
            list.len()
        )));
    }
    let mut buttons: Vec<Button> = Vec::with_capacity(list.len());
    for b in list {
        if str_at(b, &["type"]) != Some("reply") {
            return Err(GraphError::value("a button's type must be \"reply\""));
        }
        let id = required(b, &["reply", "id"])?;
        let title = required(b, &["reply", "title"])?;
        bounded("a button's id", id, MAX_BUTTON_ID)?;
        bounded("a button's title", title, MAX_BUTTON_TITLE)?;
        if id.is_empty() || title.trim().is_empty() {
            return Err(GraphError::value(
                "a button's id and title must not be empty",
            ));
        }
        if buttons.iter().any(|x| x.id == id || x.title == title) {
            return Err(GraphError::value("buttons' ids and titles must be unique"));
        }
        buttons.push(Button {
            id: id.to_owned(),
            title: title.to_owned(),
        });
    }
    Ok(Content::Buttons {
        header,
        body: body.to_owned(),
        footer,
        buttons,
    })
}

impl Content {
    /// Whether this may be sent outside the 24-hour window (only a template).
    pub fn is_template(&self) -> bool {
        matches!(self, Content::Template { .. })
    }

    /// A one-line text of the content (what a chat list would show).
    pub fn summary(&self) -> String {
        match self {
            Content::Text { body } => body.clone(),
            Content::Image { caption, .. } => caption.clone().unwrap_or_else(|| "📷".to_owned()),
            Content::Buttons { body, .. } => body.clone(),
            Content::Template {
                name, parameters, ..
            } => format!("[{name}] {}", parameters.join(" · ")),
            Content::ButtonReply { title, .. } => title.clone(),
        }
    }
}
