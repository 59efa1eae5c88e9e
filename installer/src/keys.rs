//! The till's own secrets: its Ed25519 key and the POS API's bearer token. Their files
//! have one owner, shared with the agent: `tillpass_tillfiles::keys`.

pub use tillpass_tillfiles::keys::{
    KeyError, new_api_token_file, new_till_key_file, parse_till_key, public_hex,
};
