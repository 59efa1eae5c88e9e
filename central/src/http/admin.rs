//! The administrators' API (and the WhatsApp bot's), behind the admin bearer token.
//!
//! | method | path | what |
//! |---|---|---|
//! | `POST` | `/admin/v1/customers` | create a customer (and savings account) |
//! | `GET`, `PATCH`, `DELETE` | `/admin/v1/customers/{ref}` | read (spendable and pending savings), change (profile, `segments`), **erase** |
//! | `POST` | `/admin/v1/customers/{ref}/savings` | `{amount}`: credit or debit savings |
//! | `PUT`, `DELETE` | `/admin/v1/customers/{ref}/promotions/{id}` | personal promotions |
//! | `GET` | `/admin/v1/customers/{ref}/receipts` | digital receipts |
//! | `GET`, `PUT` | `/admin/v1/customers/{ref}/stores` | the stores whose tills receive the customer's changes (`crate::scope`); `PUT {stores}` sets the stores assigned, and a store newly in scope receives the customer's current state |
//! | `POST` | `/v1/customers/{ref}/pass` | issue a pass: text, SVG, PNG |
//! | `POST` | `/admin/v1/gift-cards` | create a gift card |
//! | `GET` | `/admin/v1/gift-cards/{card}` | read it |
//! | `POST` | `/admin/v1/gift-cards/{card}/block`, `/unblock` | block, unblock |
//! | `POST` | `/v1/gift-cards/{card}/token` | issue a gift-card token |
//! | `POST` | `/v1/vouchers` | issue a voucher token |
//! | `POST` | `/admin/v1/enrolment-codes` | a one-time enrolment code |
//! | `POST` | `/admin/v1/tills/{id}/revoke` | refuse a till from now on |
//! | `POST` | `/admin/v1/catalogs?activates_at=` | publish a catalog (TOML body) |
//! | `GET` | `/admin/v1/keys` | the keys |
//! | `POST` | `/admin/v1/keys/{purpose}/rotate`, `/admin/v1/keys/{kid}/revoke` | rotate, revoke |
//! | `POST` | `/admin/v1/revocations` | revoke a token or a subject's tokens |
//! | `GET` | `/admin/v1/flags?open=&before=&limit=` | overspends, tokens at two stores…, newest first, paged |
//! | `POST` | `/admin/v1/flags/{id}/resolve` | `{note, by?}`: resolve a flag (its stores' ledgers show it) |
//! | `GET`, `PUT` | `/admin/v1/offline-policy` | the offline policy |

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use tillpass_protocol::sync::{
    CustomerRef, GiftCardStatus, OfflinePolicy, PersonalPromotion, PromotionId,
};
use tillpass_protocol::token::{TokenId, TokenKind};

use tillpass_protocol::problem::ErrorCode;

use super::extract::{self, ApiPath, ApiQuery};
use super::limits::{Limited, MAX_ADMIN_JSON_BYTES};
use super::{AppState, Problem};
use crate::customers::{CustomerPatch, NewCustomer};
use crate::enrol::NewCode;
use crate::error::Error;
use crate::flags;
use crate::giftcards::NewGiftCard;
use crate::keys::Purpose;
use crate::passes::{IssueOptions, NewVoucher};

type Answer = Result<Response, Problem>;

/// An admin JSON body.
type Body = Limited<MAX_ADMIN_JSON_BYTES>;

/// The largest catalog source accepted: 8 MiB of TOML.
pub const MAX_CATALOG_BYTES: usize = 8 * 1024 * 1024;

/// The admin routes, guarded by the bearer token.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/v1/customers", post(create_customer))
        .route(
            "/admin/v1/customers/{customer}",
            get(get_customer)
                .patch(patch_customer)
                .delete(erase_customer),
        )
        .route(
            "/admin/v1/customers/{customer}/savings",
            post(adjust_savings),
        )
        .route(
            "/admin/v1/customers/{customer}/promotions/{id}",
            put(put_promotion).delete(delete_promotion),
        )
        .route(
            "/admin/v1/customers/{customer}/receipts",
            get(list_receipts),
        )
        .route(
            "/admin/v1/customers/{customer}/stores",
            get(get_stores).put(put_stores),
        )
        .route("/v1/customers/{customer}/pass", post(issue_pass))
        .route("/admin/v1/gift-cards", post(create_gift_card))
        .route("/admin/v1/gift-cards/{card}", get(get_gift_card))
        .route("/admin/v1/gift-cards/{card}/block", post(block_gift_card))
        .route(
            "/admin/v1/gift-cards/{card}/unblock",
            post(unblock_gift_card),
        )
        .route("/v1/gift-cards/{card}/token", post(issue_gift_card_token))
        .route("/v1/vouchers", post(issue_voucher))
        .route("/admin/v1/enrolment-codes", post(create_code))
        .route("/admin/v1/tills/{id}/revoke", post(revoke_till))
        .route("/admin/v1/catalogs", post(publish_catalog))
        .route("/admin/v1/keys", get(list_keys))
        .route("/admin/v1/keys/{id}/rotate", post(rotate_key))
        .route("/admin/v1/keys/{id}/revoke", post(revoke_key))
        .route("/admin/v1/revocations", post(revoke))
        .route("/admin/v1/flags", get(list_flags))
        .route("/admin/v1/flags/{id}/resolve", post(resolve_flag))
        .route("/admin/v1/offline-policy", get(get_policy).put(set_policy))
        .merge(crate::whatsapp::routes::admin())
        .route_layer(middleware::from_fn_with_state(state, guard))
}

/// Checks the admin token before anything else, so no body is read for a stranger.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match &state.admin {
        Some(token) if token.matches(authorization) => next.run(request).await,
        _ => Problem::new(
            ErrorCode::Unauthorized,
            "the admin API needs the admin bearer token",
        )
        .into_response(),
    }
}

/// The body as `T` ([`extract::json`]); an empty body is `{}`.
fn json<T: serde::de::DeserializeOwned>(body: &Body) -> Result<T, Problem> {
    if body.bytes.is_empty() {
        return extract::parse(b"{}");
    }
    extract::json(body.content_type.as_deref(), &body.bytes)
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

async fn create_customer(State(s): State<AppState>, body: Body) -> Answer {
    let new: NewCustomer = json(&body)?;
    let now = s.now();
    s.db.create_customer(&new, now).await?;
    let view =
        s.db.customer(new.customer.as_str(), now)
            .await?
            .ok_or(Error::NotFound("customer"))?;
    Ok(created(view))
}

async fn get_customer(State(s): State<AppState>, ApiPath(customer): ApiPath<String>) -> Answer {
    let now = s.now();
    let view =
        s.db.customer(&customer, now)
            .await?
            .ok_or(Error::NotFound("customer"))?;
    Ok(Json(view).into_response())
}

async fn patch_customer(
    State(s): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Body,
) -> Answer {
    let patch: CustomerPatch = json(&body)?;
    let now = s.now();
    let view = s.db.update_customer(&customer, &patch, now).await?;
    Ok(Json(view).into_response())
}

async fn erase_customer(State(s): State<AppState>, ApiPath(customer): ApiPath<String>) -> Answer {
    let now = s.now();
    s.db.erase_customer(&customer, now).await?;
    tracing::info!("customer erased");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjustment {
    amount: i64,
}

async fn adjust_savings(
    State(s): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Body,
) -> Answer {
    let adjustment: Adjustment = json(&body)?;
    let now = s.now();
    let balance =
        s.db.adjust_savings(&customer, adjustment.amount, now)
            .await?;
    Ok(Json(serde_json::json!({ "savings": balance })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromotionBody {
    promotion_id: PromotionId,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    valid_from: Option<i64>,
    #[serde(default)]
    valid_until: Option<i64>,
}

fn yes() -> bool {
    true
}

async fn put_promotion(
    State(s): State<AppState>,
    ApiPath((customer, id)): ApiPath<(String, String)>,
    body: Body,
) -> Answer {
    let b: PromotionBody = json(&body)?;
    let promotion = PersonalPromotion {
        id: PromotionId::new(id).map_err(Error::invalid)?,
        customer: CustomerRef::new(customer).map_err(Error::invalid)?,
        promotion_id: b.promotion_id,
        enabled: b.enabled,
        valid_from: b.valid_from,
        valid_until: b.valid_until,
    };
    let now = s.now();
    let answer = promotion.clone();
    s.db.put_promotion(&promotion, now).await?;
    Ok(Json(answer).into_response())
}

async fn delete_promotion(
    State(s): State<AppState>,
    ApiPath((_customer, id)): ApiPath<(String, String)>,
) -> Answer {
    let now = s.now();
    s.db.remove_promotion(&id, now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /admin/v1/customers/{customer}/stores`: the stores the customer is assigned to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoresBody {
    stores: Vec<String>,
}

async fn get_stores(State(s): State<AppState>, ApiPath(customer): ApiPath<String>) -> Answer {
    let now = s.now();
    let stores =
        s.db.customer_stores(&customer, now)
            .await?
            .ok_or(Error::NotFound("customer"))?;
    Ok(Json(stores).into_response())
}

async fn put_stores(
    State(s): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Body,
) -> Answer {
    let b: StoresBody = json(&body)?;
    let now = s.now();
    let stores =
        s.db.assign_stores(&customer, &b.stores, now)
            .await?
            .ok_or(Error::NotFound("customer"))?;
    Ok(Json(stores).into_response())
}

async fn list_receipts(State(s): State<AppState>, ApiPath(customer): ApiPath<String>) -> Answer {
    let list = s.db.receipts(&customer).await?;
    Ok(Json(list).into_response())
}

async fn issue_pass(
    State(s): State<AppState>,
    ApiPath(customer): ApiPath<String>,
    body: Body,
) -> Answer {
    let options: IssueOptions = json(&body)?;
    let issued =
        s.db.customer_pass(&s.keys, &customer, &options, s.now())
            .await?;
    Ok(created(issued))
}

async fn create_gift_card(State(s): State<AppState>, body: Body) -> Answer {
    let new: NewGiftCard = json(&body)?;
    let now = s.now();
    s.db.create_gift_card(&new, now).await?;
    let card =
        s.db.gift_card(new.card.as_str())
            .await?
            .ok_or(Error::NotFound("gift card"))?;
    Ok(created(card))
}

async fn get_gift_card(State(s): State<AppState>, ApiPath(card): ApiPath<String>) -> Answer {
    let card =
        s.db.gift_card(&card)
            .await?
            .ok_or(Error::NotFound("gift card"))?;
    Ok(Json(card).into_response())
}

async fn set_card_status(s: AppState, card: String, status: GiftCardStatus) -> Answer {
    let now = s.now();
    let card = s.db.set_gift_card_status(&card, status, now).await?;
    Ok(Json(card).into_response())
}

async fn block_gift_card(State(s): State<AppState>, ApiPath(card): ApiPath<String>) -> Answer {
    set_card_status(s, card, GiftCardStatus::Blocked).await
}

async fn unblock_gift_card(State(s): State<AppState>, ApiPath(card): ApiPath<String>) -> Answer {
    set_card_status(s, card, GiftCardStatus::Active).await
}

async fn issue_gift_card_token(
    State(s): State<AppState>,
    ApiPath(card): ApiPath<String>,
    body: Body,
) -> Answer {
    let options: IssueOptions = json(&body)?;
    let issued =
        s.db.gift_card_token(&s.keys, &card, &options, s.now())
            .await?;
    Ok(created(issued))
}

async fn issue_voucher(State(s): State<AppState>, body: Body) -> Answer {
    let new: NewVoucher = json(&body)?;
    let issued = s.db.voucher(&s.keys, &new, s.now()).await?;
    Ok(created(issued))
}

async fn create_code(State(s): State<AppState>, body: Body) -> Answer {
    let new: NewCode = json(&body)?;
    let code = s.db.create_enrolment_code(&new, s.now()).await?;
    Ok(created(code))
}

async fn revoke_till(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> Answer {
    s.db.revoke_till(&id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct PublishQuery {
    #[serde(default)]
    activates_at: Option<i64>,
}

async fn publish_catalog(
    State(s): State<AppState>,
    ApiQuery(query): ApiQuery<PublishQuery>,
    body: Limited<MAX_CATALOG_BYTES>,
) -> Answer {
    let text = String::from_utf8(body.bytes.to_vec())
        .map_err(|_| Error::invalid("body: the catalog must be UTF-8 TOML"))?;
    let publication =
        s.db.publish_catalog(&s.keys, &text, query.activates_at, s.now())
            .await?;
    Ok(created(publication))
}

async fn list_keys(State(s): State<AppState>) -> Answer {
    let list = s.db.list_keys().await?;
    Ok(Json(list).into_response())
}

/// Grace of a rotated-out key over HTTP: the longest pass lifetime, so nothing it signed
/// stops verifying early.
const ROTATION_GRACE_SECS: i64 = 400 * 86_400;

async fn rotate_key(State(s): State<AppState>, ApiPath(purpose): ApiPath<String>) -> Answer {
    let purpose = Purpose::from_code(&purpose)
        .ok_or_else(|| Error::invalid("purpose: token, catalog or sync"))?;
    let made =
        s.db.rotate_key(&s.keys, purpose, s.now(), ROTATION_GRACE_SECS)
            .await?;
    s.forget_sync_key();
    Ok(created(made))
}

async fn revoke_key(State(s): State<AppState>, ApiPath(kid): ApiPath<String>) -> Answer {
    let info = s.db.revoke_key(&s.keys, &kid, s.now()).await?;
    s.forget_sync_key();
    Ok(Json(info).into_response())
}

#[derive(Deserialize)]
#[serde(tag = "what", rename_all = "snake_case", deny_unknown_fields)]
enum RevokeBody {
    Token {
        token_id: String,
    },
    Subject {
        kind: String,
        subject: String,
        #[serde(default)]
        before: Option<i64>,
    },
}

async fn revoke(State(s): State<AppState>, body: Body) -> Answer {
    let body: RevokeBody = json(&body)?;
    let now = s.now();
    match body {
        RevokeBody::Token { token_id } => {
            let mut id = [0u8; 8];
            hex::decode_to_slice(&token_id, &mut id)
                .map_err(|_| Error::invalid("token_id: 16 hex digits"))?;
            s.db.revoke_token(TokenId(id), now).await?;
        }
        RevokeBody::Subject {
            kind,
            subject,
            before,
        } => {
            let kind = TokenKind::from_code(&kind)
                .ok_or_else(|| Error::invalid("kind: customer_pass, gift_card or voucher"))?;
            let before = before.unwrap_or(now.saturating_add(1));
            s.db.revoke_subject(kind, subject.as_bytes(), before, now)
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagsQuery {
    #[serde(default)]
    open: bool,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list_flags(State(s): State<AppState>, ApiQuery(query): ApiQuery<FlagsQuery>) -> Answer {
    let limit = query.limit.unwrap_or(flags::MAX_PAGE);
    if !(1..=flags::MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(format!("limit: from 1 to {}", flags::MAX_PAGE)).into());
    }
    let list =
        s.db.flags_page(&flags::Query {
            open_only: query.open,
            before: query.before,
            limit,
        })
        .await?;
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    note: String,
    #[serde(default)]
    by: Option<String>,
}

/// The longest note or name a resolution keeps.
const MAX_RESOLUTION_TEXT: usize = 500;

async fn resolve_flag(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> Answer {
    let resolve: Resolve = json(&body)?;
    // Flag ids are numbers; any other id names no flag.
    let id: i64 = id.parse().map_err(|_| Error::NotFound("flag"))?;
    let by = resolve.by.unwrap_or_else(|| "admin-api".to_owned());
    if resolve.note.trim().is_empty()
        || resolve.note.len() > MAX_RESOLUTION_TEXT
        || by.trim().is_empty()
        || by.len() > MAX_RESOLUTION_TEXT
    {
        return Err(Error::invalid(format!(
            "note (and by): from 1 to {MAX_RESOLUTION_TEXT} bytes"
        ))
        .into());
    }
    s.db.resolve_flag(id, &by, &resolve.note, s.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_policy(State(s): State<AppState>) -> Answer {
    let policy = s.db.policy().await?;
    Ok(Json(policy).into_response())
}

async fn set_policy(State(s): State<AppState>, body: Body) -> Answer {
    let policy: OfflinePolicy = json(&body)?;
    let answer = policy.clone();
    s.db.set_policy(&policy).await?;
    Ok(Json(answer).into_response())
}
