//! # tillpass-fakegraph
//!
//! **A fake of Meta's WhatsApp Business Platform Cloud API** (the Graph API endpoints a
//! business uses to chat), on a loopback port. It exists because Meta's servers cannot be
//! reached from tests, CI or the demo; it follows Meta's *public* contract — the endpoints,
//! bodies, error shapes and webhook signing documented for the Cloud API — and nothing
//! more. It is not Meta's code and knows nothing Meta has not published.
//!
//! What it does, as the Cloud API does:
//! - `POST /{version}/{phone_number_id}/messages` with the bearer access token: text, image
//!   (by uploaded media id, with a caption), interactive reply buttons (at most 3, titles
//!   of at most 20 characters) and templates; answers
//!   `{"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid…"}]}`.
//! - `POST /{version}/{phone_number_id}/media` (multipart `file`, `type`,
//!   `messaging_product`) → `{"id"}`; `GET /{version}/{media_id}` → its URL; that URL
//!   downloads it (bearer token too).
//! - Errors as `{"error":{"message","type","code","error_data","error_subcode",
//!   "fbtrace_id"}}`: 190 (HTTP 401) for a bad token, 131047 more than 24 hours after the
//!   customer's last message unless a template, 130429 above the configured rate, 131026
//!   for a number that is not a WhatsApp user, 5xx bursts on demand.
//! - For the business's "sent nothing twice" tests: a send accepted (recorded, its statuses
//!   delivered) whose HTTP answer then hangs ([`FakeGraph::hang_next`]), so the client
//!   times out after the fake accepted; and statuses delivered on demand for a message
//!   already accepted ([`FakeGraph::deliver_statuses_for`]), carrying its
//!   `biz_opaque_callback_data` as Meta's do.
//! - Webhook deliveries to the configured callback URL: customers' messages and the
//!   `sent`/`delivered`/`read` statuses of what it accepted, in the documented envelope,
//!   signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app
//!   secret>`, retried on anything but 2xx — and, for tests, twice or out of order on demand.
//!
//! Every message either way is recorded and can be inspected ([`FakeGraph::messages`]); the
//! fake's clock can be moved forward ([`FakeGraph::advance_clock`]) to leave the window.
//!
//! ## Map
//! - [`FakeGraph`] (here): start it, play the customer, inspect and steer it.
//! - [`config`]: [`Config`] — the business's ids and secrets, rate, retries.
//! - [`server`]: the HTTP endpoints.
//! - [`outbound`]: send requests checked as Meta checks them; [`outbound::Content`].
//! - [`webhook`]: envelopes, the signature, the delivery worker.
//! - [`record`]: what it remembers (bounded).
//! - [`error`]: Meta's error answers; [`clock`]: the movable clock; [`ids`]: wamids.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod error;
pub mod ids;
pub mod outbound;
pub mod record;
pub mod server;
pub mod webhook;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::{Notify, mpsc};

pub use clock::FakeClock;
pub use config::Config;
pub use outbound::{Button, Content};
pub use record::{Direction, Media, Message, Status};
pub use webhook::{RetryPolicy, SIGNATURE_HEADER, signature, verify};

use webhook::{Command, Delivery, Metadata};

/// What tests and the demo change while it runs.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    pub(crate) webhook: Option<String>,
    pub(crate) rate_per_sec: Option<u32>,
    pub(crate) recent_sends: VecDeque<Instant>,
    /// The next this many send requests fail with `fail_status`.
    pub(crate) fail_next: u32,
    pub(crate) fail_status: u16,
    /// Deliveries wait until released.
    pub(crate) held: bool,
    /// Every delivery is made twice.
    pub(crate) twice: bool,
    /// The waiting deliveries go out last first, once.
    pub(crate) release_reversed: bool,
    /// Statuses are delivered for accepted messages.
    pub(crate) statuses: bool,
    /// The next this many accepted sends get no answer until [`FakeGraph::release_hung`].
    pub(crate) hang_next: u32,
}

/// The state the server, the worker and the handles share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    controls: Mutex<Controls>,
    record: Mutex<record::Record>,
    pub(crate) clock: FakeClock,
    tx: mpsc::UnboundedSender<Command>,
    pub(crate) changed: Notify,
    /// Wakes the hung answers.
    pub(crate) unhang: Notify,
    next_delivery: AtomicU64,
    /// Deliveries queued or in flight.
    outstanding: AtomicUsize,
    pub(crate) base_url: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn controls(&self) -> MutexGuard<'_, Controls> {
        lock(&self.controls)
    }

    pub(crate) fn record(&self) -> MutexGuard<'_, record::Record> {
        lock(&self.record)
    }

    pub(crate) fn next_delivery_id(&self) -> u64 {
        self.next_delivery.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn delivery_done(&self) {
        let _ = self
            .outstanding
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            });
        self.changed.notify_waiters();
    }

    pub(crate) fn metadata(&self) -> Metadata {
        Metadata {
            business_account_id: self.config.business_account_id.clone(),
            display_phone_number: self.config.display_phone_number.clone(),
            phone_number_id: self.config.phone_number_id.clone(),
        }
    }

    /// Queues a delivery to the webhook.
    pub(crate) fn deliver(&self, body: &serde_json::Value, carries: Vec<String>) {
        let delivery = Delivery {
            id: self.next_delivery_id(),
            body: serde_json::to_vec(body).unwrap_or_default(),
            carries,
        };
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(Command::Deliver(delivery)).is_err() {
            self.delivery_done();
        }
    }

    /// Queues the statuses of an accepted message, in Meta's order.
    pub(crate) fn deliver_statuses(&self, message_id: &str, to: &str, callback_data: Option<&str>) {
        if !self.controls().statuses {
            return;
        }
        self.queue_statuses(message_id, to, callback_data);
    }

    fn queue_statuses(&self, message_id: &str, to: &str, callback_data: Option<&str>) {
        let conversation = ids::conversation_id();
        for status in [Status::Sent, Status::Delivered, Status::Read] {
            let at = self.clock.now();
            let body = webhook::status_envelope(
                &self.metadata(),
                message_id,
                to,
                status,
                at,
                &conversation,
                callback_data,
            );
            if let Some(m) = self.record().message_mut(message_id) {
                m.status = m.status.max(status);
            }
            self.deliver(
                &body,
                vec![format!("status:{message_id}:{}", status.as_str())],
            );
        }
    }
}

/// A running fake Graph API. Clones are handles to the same fake; it stops when the
/// runtime it was started on stops.
#[derive(Clone)]
pub struct FakeGraph {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

/// The fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the fake Graph API cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

impl FakeGraph {
    /// Starts the fake on `127.0.0.1` at an ephemeral port, on the current tokio runtime.
    pub async fn start(config: Config) -> Result<FakeGraph, StartError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        FakeGraph::start_on(listener, config)
    }

    /// Starts the fake on a bound listener, on the current tokio runtime.
    pub fn start_on(
        listener: tokio::net::TcpListener,
        config: Config,
    ) -> Result<FakeGraph, StartError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = mpsc::unbounded_channel();
        let controls = Controls {
            webhook: config.webhook.clone(),
            rate_per_sec: config.rate_per_sec,
            fail_status: 500,
            statuses: true,
            ..Controls::default()
        };
        let shared = Arc::new(Shared {
            config,
            controls: Mutex::new(controls),
            record: Mutex::new(record::Record::default()),
            clock: FakeClock::default(),
            tx,
            changed: Notify::new(),
            unhang: Notify::new(),
            next_delivery: AtomicU64::new(0),
            outstanding: AtomicUsize::new(0),
            base_url,
        });
        let worker = webhook::Worker {
            shared: shared.clone(),
            rx,
            waiting: VecDeque::new(),
        };
        tokio::spawn(worker.run());
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("fake graph: server stopped: {e}");
            }
        });
        Ok(FakeGraph { shared })
    }

    /// `http://127.0.0.1:<port>`: the base URL the business's client is given.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The fake's clock.
    pub fn clock(&self) -> &FakeClock {
        &self.shared.clock
    }

    /// Moves the fake's clock forward (e.g. past the 24-hour window).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Points deliveries at `url` (the business's webhook callback); waiting deliveries go.
    pub fn set_webhook(&self, url: Option<String>) {
        self.shared.controls().webhook = url;
        let _ = self.shared.tx.send(Command::Flush);
    }

    /// Send requests above `per_sec` in a second get 130429; `None` lifts the limit.
    pub fn set_rate_limit(&self, per_sec: Option<u32>) {
        let mut c = self.shared.controls();
        c.rate_per_sec = per_sec;
        c.recent_sends.clear();
    }

    /// The next `count` send requests (messages and media) fail with `status` (a 5xx).
    pub fn fail_next(&self, count: u32, status: StatusCode) {
        let mut c = self.shared.controls();
        c.fail_next = count;
        c.fail_status = status.as_u16();
    }

    /// Every delivery from now on is made twice (Meta may deliver twice).
    pub fn deliver_twice(&self, twice: bool) {
        self.shared.controls().twice = twice;
    }

    /// Whether `sent`/`delivered`/`read` statuses are delivered for accepted messages.
    pub fn deliver_statuses(&self, on: bool) {
        self.shared.controls().statuses = on;
    }

    /// The next `count` send requests that are accepted (recorded, their statuses
    /// delivered as usual) get no HTTP answer until [`FakeGraph::release_hung`] (or ten
    /// minutes): the client times out after the message was accepted.
    pub fn hang_next(&self, count: u32) {
        self.shared.controls().hang_next = count;
    }

    /// Answers the hung send requests (to whoever still listens).
    pub fn release_hung(&self) {
        self.shared.unhang.notify_waiters();
    }

    /// Delivers the `sent`, `delivered` and `read` statuses of the accepted message `id`
    /// now, with its `biz_opaque_callback_data`, whether statuses are on or not; whether
    /// such a message was recorded.
    pub fn deliver_statuses_for(&self, id: &str) -> bool {
        let found = self
            .shared
            .record()
            .messages
            .iter()
            .find(|m| m.id == id && m.direction == Direction::Outbound)
            .map(|m| (m.wa_id.clone(), m.callback_data.clone()));
        match found {
            Some((to, callback)) => {
                self.shared.queue_statuses(id, &to, callback.as_deref());
                true
            }
            None => false,
        }
    }

    /// Holds deliveries back until [`FakeGraph::release`].
    pub fn hold(&self) {
        self.shared.controls().held = true;
    }

    /// Releases held deliveries: in order, or last first (Meta may deliver out of order).
    pub fn release(&self, reversed: bool) {
        {
            let mut c = self.shared.controls();
            c.held = false;
            c.release_reversed = reversed;
        }
        let _ = self.shared.tx.send(Command::Flush);
    }

    /// Deliveries queued, held or in flight.
    pub fn outstanding_deliveries(&self) -> usize {
        self.shared.outstanding.load(Ordering::SeqCst)
    }

    /// A WhatsApp user the business may write to (a number that is not one gets 131026).
    pub fn add_user(&self, wa_id: &str, profile_name: &str) {
        let mut r = self.shared.record();
        r.users.insert(wa_id.to_owned(), profile_name.to_owned());
        r.version += 1;
    }

    /// The customer `wa_id` sends a text: recorded, opens the 24-hour window, delivered to
    /// the webhook. Returns its message id.
    pub fn customer_text(&self, wa_id: &str, body: &str) -> String {
        self.customer_message(
            wa_id,
            Content::Text {
                body: body.to_owned(),
            },
            None,
        )
    }

    /// The customer taps a reply button of message `context` (if known). Returns the id of
    /// the reply.
    pub fn customer_button(
        &self,
        wa_id: &str,
        context: Option<&str>,
        id: &str,
        title: &str,
    ) -> String {
        self.customer_message(
            wa_id,
            Content::ButtonReply {
                id: id.to_owned(),
                title: title.to_owned(),
            },
            context.map(str::to_owned),
        )
    }

    fn customer_message(&self, wa_id: &str, content: Content, context: Option<String>) -> String {
        let at = self.shared.clock.now();
        let id = ids::wamid();
        let message = Message {
            seq: 0,
            id: id.clone(),
            wa_id: wa_id.to_owned(),
            direction: Direction::Inbound,
            content,
            context,
            at,
            status: Status::Read,
            api_version: None,
            callback_data: None,
        };
        let name = {
            let mut r = self.shared.record();
            let name = r
                .users
                .entry(wa_id.to_owned())
                .or_insert_with(|| wa_id.to_owned())
                .clone();
            r.last_inbound.insert(wa_id.to_owned(), at);
            r.push(message.clone());
            name
        };
        let body = webhook::message_envelope(&self.shared.metadata(), &name, &message);
        self.shared.deliver(&body, vec![id.clone()]);
        self.shared.changed.notify_waiters();
        id
    }

    /// Delivers `body` to the webhook as it is (signed), e.g. a hand-made envelope.
    pub fn deliver_raw(&self, body: &serde_json::Value) {
        self.shared.deliver(body, vec!["raw".to_owned()]);
    }

    /// Every message recorded, both ways, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.record().messages.iter().cloned().collect()
    }

    /// The messages of one chat after `after` (a [`Message::seq`]; 0 for all).
    pub fn chat(&self, wa_id: &str, after: u64) -> Vec<Message> {
        self.shared
            .record()
            .messages
            .iter()
            .filter(|m| m.wa_id == wa_id && m.seq > after)
            .cloned()
            .collect()
    }

    /// The messages the business sent (accepted by the fake), oldest first.
    pub fn sent(&self) -> Vec<Message> {
        self.shared
            .record()
            .messages
            .iter()
            .filter(|m| m.direction == Direction::Outbound)
            .cloned()
            .collect()
    }

    /// An uploaded file.
    pub fn media(&self, id: &str) -> Option<Media> {
        self.shared
            .record()
            .media
            .iter()
            .find(|m| m.id == id)
            .cloned()
    }

    /// Every webhook delivery attempt, oldest first.
    pub fn attempts(&self) -> Vec<record::Attempt> {
        self.shared.record().attempts.iter().cloned().collect()
    }

    /// A number that changes whenever anything is recorded.
    pub fn version(&self) -> u64 {
        self.shared.record().version
    }

    /// Waits until something is recorded or a delivery ends, or `timeout` passes.
    pub async fn changed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.shared.changed.notified()).await;
    }
}
