//! Serde helpers: fixed-size byte arrays and blobs as lowercase hex strings.

use serde::{Deserialize, Deserializer, Serializer};

/// `[u8; N]` as exactly `2 × N` hex digits.
pub(crate) mod array {
    use super::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::decode_array(&text)
            .ok_or_else(|| serde::de::Error::custom(format_args!("expected {} hex digits", N * 2)))
    }
}

/// `Vec<u8>` as hex digits (an even number of them).
pub(crate) mod blob {
    use super::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        hex::decode(text.as_bytes()).map_err(|_| serde::de::Error::custom("expected hex digits"))
    }
}

/// Decodes exactly `2 × N` hex digits (either case) into `[u8; N]`.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.as_bytes(), &mut out).ok()?;
    Some(out)
}
