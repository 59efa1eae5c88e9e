//! The conditions of a promotion: when, where, for whom and how much.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When, where and for whom a promotion applies. Every condition left empty or absent
/// always holds; the validity window is on [`super::Promotion`] itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The days of the week, in the store's time zone; empty for every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<Weekday>,
    /// Times of day, in the store's time zone; empty for all day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<TimeWindow>,
    /// The stores (by store id) where the promotion applies; empty for every store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    /// The regions where the promotion applies; empty for every region. With both
    /// `stores` and `regions`, a store qualifies by being in either.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The least number of selected units in the cart (a weighed line counts as one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_quantity: Option<u32>,
    /// The least amount of the selected lines, after the promotions applied before this
    /// one, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<i64>,
    /// The customer tiers that qualify; empty for any customer (or none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// The customer segments that qualify (any one is enough); empty for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// How many sales of one customer the promotion may apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses_per_customer: Option<u32>,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The day after this one.
    pub fn next(self) -> Weekday {
        match self {
            Weekday::Mon => Weekday::Tue,
            Weekday::Tue => Weekday::Wed,
            Weekday::Wed => Weekday::Thu,
            Weekday::Thu => Weekday::Fri,
            Weekday::Fri => Weekday::Sat,
            Weekday::Sat => Weekday::Sun,
            Weekday::Sun => Weekday::Mon,
        }
    }
}

/// A time of day, `"HH:MM"` from `00:00` to `24:00`, held as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    /// Midnight at the end of the day (`24:00`).
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    /// The time `minutes` after midnight; `None` past `24:00`.
    pub const fn from_minutes(minutes: u16) -> Option<ClockTime> {
        if minutes <= 24 * 60 {
            Some(ClockTime(minutes))
        } else {
            None
        }
    }

    /// Minutes after midnight, 0..=1440.
    pub const fn minutes(self) -> u16 {
        self.0
    }
}

/// The text is not a time of day `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time of day {0:?}: expected HH:MM between 00:00 and 24:00")]
pub struct ClockTimeError(String);

impl FromStr for ClockTime {
    type Err = ClockTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ClockTimeError(s.chars().take(16).collect());
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let hours: u16 = h.parse().map_err(|_| bad())?;
        let minutes: u16 = m.parse().map_err(|_| bad())?;
        if minutes >= 60 || hours > 24 || (hours == 24 && minutes != 0) {
            return Err(bad());
        }
        Ok(ClockTime(hours * 60 + minutes))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A window of time of day: from `from` (inclusive) until `until` (exclusive). A window
/// whose `until` is earlier than its `from` runs past midnight (`22:00`–`02:00`); its
/// early-morning part belongs to the weekday on which it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// The start, inclusive.
    pub from: ClockTime,
    /// The end, exclusive.
    pub until: ClockTime,
}

impl TimeWindow {
    /// Whether the window wraps past midnight.
    pub fn wraps(self) -> bool {
        self.until < self.from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_and_print() {
        assert_eq!("09:30".parse::<ClockTime>().unwrap().minutes(), 570);
        assert_eq!("24:00".parse::<ClockTime>().unwrap(), ClockTime::END_OF_DAY);
        assert_eq!(ClockTime::from_minutes(570).unwrap().to_string(), "09:30");
        for bad in [
            "9:30", "24:01", "12:60", "ab:cd", "", "12:3", "+1:00", "123:00",
        ] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
        assert!(ClockTime::from_minutes(1441).is_none());
    }

    #[test]
    fn weekdays_cycle() {
        assert_eq!(Weekday::Sun.next(), Weekday::Mon);
        assert_eq!(Weekday::ALL.len(), 7);
    }
}
