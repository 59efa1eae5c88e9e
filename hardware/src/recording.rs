//! Readers for recorded input streams, to replay a scanner without the scanner.
//!
//! * [`Evemu`]: the text format of `evemu-record` (`E: <sec>.<usec> <type> <code> <value>`
//!   lines, type and code in hex, value in decimal) for keyboard-wedge scanners.
//! * [`HidRecording`]: the text format of `hid-recorder` from hid-tools
//!   (`R:` report descriptor, `E: <sec>.<usec> <len> <hex bytes>` input reports) for HID-POS
//!   scanners.
//!
//! Both keep what a replay needs and skip the rest (device properties, comments).

use std::time::Duration;

use crate::clock::Timestamp;
use crate::wedge::{KeyEvent, KeyValue};

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RecordingError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One recorded evdev event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Time since the start of the recording.
    pub time: Duration,
    /// `EV_*` type.
    pub kind: u16,
    /// Code within the type.
    pub code: u16,
    /// For `EV_KEY`: 1 pressed, 0 released, 2 repeated; other types' own values.
    pub value: i32,
}

/// An `evemu-record` recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evemu {
    /// The device name (`N:`).
    pub name: Option<String>,
    /// Bus, vendor, product, version (`I:`).
    pub id: Option<[u16; 4]>,
    /// The events, in order.
    pub events: Vec<RecordedEvent>,
}

const EV_KEY: u16 = 1;

impl Evemu {
    /// Parses the text of a recording.
    ///
    /// # Errors
    /// The first malformed `N:`, `I:` or `E:` line.
    pub fn parse(text: &str) -> Result<Evemu, RecordingError> {
        let mut rec = Evemu::default();
        for (i, line) in text.lines().enumerate() {
            let err = |message: &str| RecordingError {
                line: i + 1,
                message: message.to_owned(),
            };
            let line = line.split('#').next().unwrap_or_default().trim();
            if let Some(name) = line.strip_prefix("N:") {
                rec.name = Some(name.trim().to_owned());
            } else if let Some(id) = line.strip_prefix("I:") {
                let parts: Vec<u16> = id
                    .split_whitespace()
                    .map(|p| u16::from_str_radix(p, 16))
                    .collect::<Result<_, _>>()
                    .map_err(|_| err("I: wants four hex numbers"))?;
                rec.id = Some(
                    parts
                        .try_into()
                        .map_err(|_| err("I: wants four hex numbers"))?,
                );
            } else if let Some(event) = line.strip_prefix("E:") {
                let mut parts = event.split_whitespace();
                let (Some(time), Some(kind), Some(code), Some(value), None) = (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) else {
                    return Err(err("E: wants time, type, code and value"));
                };
                rec.events.push(RecordedEvent {
                    time: parse_time(time).ok_or_else(|| err("bad time"))?,
                    kind: u16::from_str_radix(kind, 16).map_err(|_| err("bad type"))?,
                    code: u16::from_str_radix(code, 16).map_err(|_| err("bad code"))?,
                    value: value.parse().map_err(|_| err("bad value"))?,
                });
            }
        }
        Ok(rec)
    }

    /// The key events, timed from `start`.
    #[must_use]
    pub fn key_events(&self, start: Timestamp) -> Vec<KeyEvent> {
        self.events
            .iter()
            .filter(|e| e.kind == EV_KEY)
            .filter_map(|e| {
                Some(KeyEvent {
                    code: e.code,
                    value: KeyValue::from_evdev(e.value)?,
                    at: start.saturating_add(e.time),
                })
            })
            .collect()
    }
}

/// A `hid-recorder` recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HidRecording {
    /// The device name (`N:`).
    pub name: Option<String>,
    /// The report descriptor (`R:`).
    pub descriptor: Vec<u8>,
    /// The input reports with their times (`E:`).
    pub reports: Vec<(Duration, Vec<u8>)>,
}

impl HidRecording {
    /// Parses the text of a recording.
    ///
    /// # Errors
    /// The first malformed `R:` or `E:` line, or one whose byte count does not match.
    pub fn parse(text: &str) -> Result<HidRecording, RecordingError> {
        let mut rec = HidRecording::default();
        for (i, line) in text.lines().enumerate() {
            let err = |message: &str| RecordingError {
                line: i + 1,
                message: message.to_owned(),
            };
            let line = line.split('#').next().unwrap_or_default().trim();
            if let Some(name) = line.strip_prefix("N:") {
                rec.name = Some(name.trim().to_owned());
            } else if let Some(desc) = line.strip_prefix("R:") {
                rec.descriptor =
                    counted_bytes(desc).ok_or_else(|| err("R: wants a count then hex bytes"))?;
            } else if let Some(event) = line.strip_prefix("E:") {
                let event = event.trim_start();
                let (time, rest) = event
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| err("E: wants a time, a count and hex bytes"))?;
                let time = parse_time(time).ok_or_else(|| err("bad time"))?;
                let bytes =
                    counted_bytes(rest).ok_or_else(|| err("E: wants a count then hex bytes"))?;
                rec.reports.push((time, bytes));
            }
        }
        Ok(rec)
    }
}

/// `<count> <hex> <hex> ...` with exactly `count` bytes.
fn counted_bytes(text: &str) -> Option<Vec<u8>> {
    let mut parts = text.split_whitespace();
    let count: usize = parts.next()?.parse().ok()?;
    let bytes: Vec<u8> = parts
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    (bytes.len() == count).then_some(bytes)
}

/// `<seconds>.<microseconds>`.
fn parse_time(text: &str) -> Option<Duration> {
    let (secs, micros) = text.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if micros.len() != 6 {
        return None;
    }
    let micros: u64 = micros.parse().ok()?;
    Some(Duration::from_secs(secs).saturating_add(Duration::from_micros(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evemu_lines() {
        let text = "# EVEMU 1.3\nN: Honeywell 1900\nI: 0003 0c2e 0b61 0111\n\
                    E: 0.000000 0004 0004 458775\t# EV_MSC / MSC_SCAN\n\
                    E: 0.000000 0001 0014 0001\t# EV_KEY / KEY_T 1\n\
                    E: 0.000000 0000 0000 0000\t# SYN\n\
                    E: 0.001000 0001 0014 0000\n";
        let rec = Evemu::parse(text).unwrap();
        assert_eq!(rec.name.as_deref(), Some("Honeywell 1900"));
        assert_eq!(rec.id, Some([3, 0x0c2e, 0x0b61, 0x0111]));
        assert_eq!(rec.events.len(), 4);
        let keys = rec.key_events(Timestamp::ZERO);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].at, Timestamp::from_micros(1000));
        assert!(Evemu::parse("E: 0.1 0001 0014 0001").is_err());
        assert!(Evemu::parse("E: 0.000001 0001 0014").is_err());
    }

    #[test]
    fn hid_recorder_lines() {
        let text = "R: 3 06 8c 00\nN: scanner\nE: 000001.500000 4 02 01 41 00\n";
        let rec = HidRecording::parse(text).unwrap();
        assert_eq!(rec.descriptor, vec![0x06, 0x8c, 0x00]);
        assert_eq!(
            rec.reports,
            vec![(Duration::from_millis(1500), vec![2, 1, 0x41, 0])]
        );
        assert!(HidRecording::parse("E: 0.000000 5 02 01").is_err());
    }
}
