//! The fake's configuration: the business's ids and secrets as Meta would hold them, the
//! webhook callback, the throughput limit and how deliveries are retried.

use crate::webhook::RetryPolicy;

/// How the fake runs. [`Config::default`] gives fixed test values; the business under test
/// must be configured with the same ones.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Graph API version in the path, e.g. `v21.0`: other versions get 400.
    pub api_version: String,
    /// The business phone number's id (in the path of sends and uploads).
    pub phone_number_id: String,
    /// The business's number as customers see it (digits only).
    pub display_phone_number: String,
    /// The WhatsApp Business Account id (`entry[].id` of deliveries).
    pub business_account_id: String,
    /// The bearer token sends must carry.
    pub access_token: String,
    /// The app secret deliveries are signed with.
    pub app_secret: String,
    /// The webhook callback URL; deliveries wait until one is set.
    pub webhook: Option<String>,
    /// Send requests per second above which 130429 is answered; `None`: no limit.
    pub rate_per_sec: Option<u32>,
    /// How deliveries are retried.
    pub retry: RetryPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_version: "v21.0".to_owned(),
            phone_number_id: "106540352242922".to_owned(),
            display_phone_number: "34910000000".to_owned(),
            business_account_id: "102290129340398".to_owned(),
            access_token: "fake-graph-access-token".to_owned(),
            app_secret: "fake-graph-app-secret".to_owned(),
            webhook: None,
            rate_per_sec: None,
            retry: RetryPolicy::default(),
        }
    }
}
