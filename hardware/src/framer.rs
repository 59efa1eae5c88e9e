//! Cuts a stream of decoded bytes into frames, one per scan.
//!
//! A frame ends at the configured [`Terminator`], or, with [`Terminator::None`], after an idle
//! gap with no input. Nothing is silently dropped: a frame longer than the maximum length is
//! reported as [`ScannerError::Oversized`] with the bytes kept, and bytes followed by silence
//! but no terminator are reported as [`ScannerError::Partial`].
//!
//! Line endings are forgiving the way a technician expects: with `cr`, an LF right after the
//! CR belongs to the same ending (so a scanner sending CRLF still works); with `lf` and
//! `crlf`, a CR right before the LF is removed.
//!
//! The framer is pure: it never reads a clock. The caller passes the time of every input and
//! calls [`Framer::on_idle`] when [`Framer::deadline`] has passed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::event::ScannerError;
use crate::symbology::AimId;

/// What ends a scan on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    /// Carriage return, `\r` (an LF right after it is ignored).
    Cr,
    /// Line feed, `\n` (a CR right before it is removed).
    Lf,
    /// CR LF as one ending.
    CrLf,
    /// Horizontal tab, `\t`.
    Tab,
    /// No terminator: a scan ends after an idle gap.
    None,
}

/// Framer settings (see [`crate::config::FramingConfig`] for the configured form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramerSettings {
    /// What ends a scan.
    pub terminator: Terminator,
    /// The longest frame accepted, in bytes.
    pub max_len: usize,
    /// With [`Terminator::None`]: the silence that ends a scan. Otherwise: the silence after
    /// which unterminated bytes are reported as a partial scan.
    pub idle_gap: Duration,
}

/// One complete frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The bytes, terminator removed.
    pub bytes: Vec<u8>,
    /// An AIM identifier carried outside the data (HID-POS), if any.
    pub aim: Option<AimId>,
    /// Time of the first byte.
    pub first_at: Timestamp,
    /// Time of the last input of the frame (the terminator, if any).
    pub last_at: Timestamp,
}

/// What the framer produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// A complete frame.
    Frame(Frame),
    /// Input that could not be framed, with its bytes.
    Error(ScannerError),
}

/// The framer state for one device.
#[derive(Debug)]
pub struct Framer {
    settings: FramerSettings,
    buf: Vec<u8>,
    first_at: Timestamp,
    last_at: Option<Timestamp>,
    /// A CR just ended a frame (with `cr`): a following LF is part of that ending.
    swallow_lf: bool,
    /// An oversized frame was reported: skip to the next terminator.
    discarding: bool,
    /// Something the decoder could not read belongs to the frame in progress.
    taint: Option<String>,
    /// The AIM identifier of the message being pushed (HID-POS).
    aim: Option<AimId>,
}

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const TAB: u8 = b'\t';

impl Framer {
    /// A framer with these settings.
    #[must_use]
    pub fn new(settings: FramerSettings) -> Self {
        Framer {
            settings,
            buf: Vec::with_capacity(settings.max_len.min(1024)),
            first_at: Timestamp::ZERO,
            last_at: None,
            swallow_lf: false,
            discarding: false,
            taint: None,
            aim: None,
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &FramerSettings {
        &self.settings
    }

    /// Pushes bytes that arrived at `t`, appending complete frames and errors to `out`.
    pub fn push(&mut self, bytes: &[u8], t: Timestamp, out: &mut Vec<Framed>) {
        for &b in bytes {
            self.push_byte(b, t, out);
        }
    }

    /// Pushes a message whose end the transport marks (a HID-POS scan): terminators inside
    /// it still split it, and whatever follows the last one is a frame of its own.
    pub fn push_message(
        &mut self,
        bytes: &[u8],
        aim: Option<AimId>,
        t: Timestamp,
        out: &mut Vec<Framed>,
    ) {
        self.aim = aim;
        self.push(bytes, t, out);
        self.swallow_lf = false;
        if self.pending() {
            self.end(t, out);
        }
        self.aim = None;
    }

    /// Marks the frame in progress as unreadable: when it ends, it is reported as
    /// [`ScannerError::Undecodable`] with `detail`, instead of as a frame.
    pub fn taint(&mut self, detail: String, t: Timestamp) {
        if self.last_at.is_none() {
            self.first_at = t;
        }
        self.last_at = Some(t);
        match &mut self.taint {
            Some(existing) => {
                existing.push_str("; ");
                existing.push_str(&detail);
            }
            None => self.taint = Some(detail),
        }
    }

    /// Reports what is pending if the idle gap has passed at `now`.
    pub fn on_idle(&mut self, now: Timestamp, out: &mut Vec<Framed>) {
        if let Some(deadline) = self.deadline()
            && now >= deadline
        {
            self.flush(now, out);
        }
    }

    /// Reports whatever is pending now (the device went away, or the caller is shutting down).
    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Framed>) {
        self.swallow_lf = false;
        if !self.pending() {
            return;
        }
        if self.settings.terminator == Terminator::None || self.discarding || self.taint.is_some() {
            self.end(now, out);
        } else {
            let idle = self
                .last_at
                .map_or(Duration::ZERO, |last| now.saturating_since(last));
            let raw = std::mem::take(&mut self.buf);
            self.reset();
            out.push(Framed::Error(ScannerError::Partial {
                raw,
                idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            }));
        }
    }

    /// When [`Framer::on_idle`] should next be called, if anything is pending.
    #[must_use]
    pub fn deadline(&self) -> Option<Timestamp> {
        if self.pending() {
            self.last_at
                .map(|t| t.saturating_add(self.settings.idle_gap))
        } else {
            None
        }
    }

    fn pending(&self) -> bool {
        !self.buf.is_empty() || self.discarding || self.taint.is_some()
    }

    fn push_byte(&mut self, b: u8, t: Timestamp, out: &mut Vec<Framed>) {
        if std::mem::take(&mut self.swallow_lf) && b == LF {
            return;
        }
        let ends = match self.settings.terminator {
            Terminator::Cr => b == CR,
            Terminator::Lf => b == LF,
            Terminator::CrLf => b == LF && self.buf.last() == Some(&CR),
            Terminator::Tab => b == TAB,
            Terminator::None => false,
        };
        if ends {
            if matches!(self.settings.terminator, Terminator::Lf | Terminator::CrLf)
                && self.buf.last() == Some(&CR)
            {
                self.buf.pop();
            }
            self.swallow_lf = self.settings.terminator == Terminator::Cr;
            self.last_at = Some(t);
            self.end(t, out);
            return;
        }
        if self.last_at.is_none() {
            self.first_at = t;
        }
        self.last_at = Some(t);
        if self.discarding {
            // Keep the last byte so that a CR LF ending is still recognised.
            self.buf.clear();
            self.buf.push(b);
            return;
        }
        // A CR that may be the first half of a CR LF ending does not count towards the limit.
        let crlf_pending = b == CR
            && matches!(self.settings.terminator, Terminator::Lf | Terminator::CrLf)
            && self.buf.len() == self.settings.max_len;
        if self.buf.len() >= self.settings.max_len && !crlf_pending {
            let mut raw = std::mem::take(&mut self.buf);
            raw.truncate(self.settings.max_len);
            out.push(Framed::Error(ScannerError::Oversized {
                limit: self.settings.max_len,
                raw,
            }));
            self.discarding = true;
            self.buf.push(b);
            return;
        }
        self.buf.push(b);
    }

    fn end(&mut self, t: Timestamp, out: &mut Vec<Framed>) {
        let bytes = std::mem::take(&mut self.buf);
        let first_at = self.first_at;
        let discarding = std::mem::take(&mut self.discarding);
        let taint = self.taint.take();
        let aim = self.aim;
        self.reset();
        if discarding {
            return;
        }
        if let Some(detail) = taint {
            out.push(Framed::Error(ScannerError::Undecodable {
                detail,
                raw: bytes,
            }));
        } else if !bytes.is_empty() {
            out.push(Framed::Frame(Frame {
                bytes,
                aim,
                first_at,
                last_at: t,
            }));
        }
    }

    fn reset(&mut self) {
        self.last_at = None;
        self.discarding = false;
        self.taint = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(terminator: Terminator) -> Framer {
        Framer::new(FramerSettings {
            terminator,
            max_len: 8,
            idle_gap: Duration::from_millis(50),
        })
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_micros(ms * 1000)
    }

    fn frames(out: &[Framed]) -> Vec<&[u8]> {
        out.iter()
            .filter_map(|f| match f {
                Framed::Frame(f) => Some(f.bytes.as_slice()),
                Framed::Error(_) => None,
            })
            .collect()
    }

    #[test]
    fn line_endings() {
        for (term, input, want) in [
            (
                Terminator::Cr,
                &b"AB\rCD\r\nEF\r"[..],
                vec![&b"AB"[..], b"CD", b"EF"],
            ),
            (Terminator::Lf, b"AB\nCD\r\n", vec![b"AB", b"CD"]),
            (Terminator::CrLf, b"AB\r\nC\rD\r\n", vec![b"AB", b"C\rD"]),
            (Terminator::Tab, b"AB\tCD\t", vec![b"AB", b"CD"]),
        ] {
            let mut f = framer(term);
            let mut out = Vec::new();
            f.push(input, t(0), &mut out);
            assert_eq!(frames(&out), want, "{term:?}");
            assert_eq!(f.deadline(), None, "{term:?}");
        }
    }

    #[test]
    fn split_chunks_and_crlf_across_them() {
        let mut f = framer(Terminator::Cr);
        let mut out = Vec::new();
        f.push(b"A", t(0), &mut out);
        f.push(b"B\r", t(1), &mut out);
        f.push(b"\nC", t(2), &mut out);
        f.push(b"D\r", t(3), &mut out);
        assert_eq!(frames(&out), vec![&b"AB"[..], b"CD"]);
        let Framed::Frame(first) = &out[0] else {
            panic!()
        };
        assert_eq!((first.first_at, first.last_at), (t(0), t(1)));
    }

    #[test]
    fn idle_gap_ends_unterminated_frames() {
        let mut f = framer(Terminator::None);
        let mut out = Vec::new();
        f.push(b"AB", t(0), &mut out);
        f.push(b"CD", t(10), &mut out);
        assert_eq!(f.deadline(), Some(t(60)));
        f.on_idle(t(59), &mut out);
        assert!(out.is_empty());
        f.on_idle(t(60), &mut out);
        assert_eq!(frames(&out), vec![&b"ABCD"[..]]);
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn silence_without_terminator_is_a_partial_scan() {
        let mut f = framer(Terminator::Cr);
        let mut out = Vec::new();
        f.push(b"ABC", t(0), &mut out);
        f.on_idle(t(70), &mut out);
        assert_eq!(
            out,
            vec![Framed::Error(ScannerError::Partial {
                raw: b"ABC".to_vec(),
                idle_ms: 70
            })]
        );
        out.clear();
        f.push(b"DE\r", t(100), &mut out);
        assert_eq!(frames(&out), vec![&b"DE"[..]]);
    }

    #[test]
    fn oversized_is_reported_once_and_skipped_to_the_terminator() {
        let mut f = framer(Terminator::CrLf);
        let mut out = Vec::new();
        f.push(b"0123456789abc\r", t(0), &mut out);
        f.push(b"\nOK\r\n", t(1), &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            out[0],
            Framed::Error(ScannerError::Oversized {
                limit: 8,
                raw: b"01234567".to_vec()
            })
        );
        assert_eq!(frames(&out), vec![&b"OK"[..]]);
        // Exactly max_len is fine.
        out.clear();
        f.push(b"01234567\r\n", t(2), &mut out);
        assert_eq!(frames(&out), vec![&b"01234567"[..]]);
    }

    #[test]
    fn oversized_without_terminator_resets_on_silence() {
        let mut f = framer(Terminator::Cr);
        let mut out = Vec::new();
        f.push(b"0123456789", t(0), &mut out);
        assert_eq!(out.len(), 1);
        f.on_idle(t(100), &mut out);
        assert_eq!(out.len(), 1, "no second report: {out:?}");
        f.push(b"AB\r", t(200), &mut out);
        assert_eq!(frames(&out), vec![&b"AB"[..]]);
    }

    #[test]
    fn tainted_frames_become_errors() {
        let mut f = framer(Terminator::Cr);
        let mut out = Vec::new();
        f.push(b"AB", t(0), &mut out);
        f.taint("key F1".into(), t(1));
        f.push(b"C\r", t(2), &mut out);
        assert_eq!(
            out,
            vec![Framed::Error(ScannerError::Undecodable {
                detail: "key F1".into(),
                raw: b"ABC".to_vec()
            })]
        );
        // A taint alone is reported after the gap.
        out.clear();
        f.taint("key F2".into(), t(10));
        f.on_idle(t(60), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn messages_end_at_their_boundary() {
        let mut f = framer(Terminator::None);
        let mut out = Vec::new();
        let aim = AimId::parse_prefix(b"]Q1");
        f.push_message(b"TP123", aim, t(0), &mut out);
        let Framed::Frame(frame) = &out[0] else {
            panic!()
        };
        assert_eq!((frame.bytes.as_slice(), frame.aim), (&b"TP123"[..], aim));
        // With a CR terminator a trailing CR inside the message is not a second frame.
        let mut f = framer(Terminator::Cr);
        out.clear();
        f.push_message(b"TP1\r", None, t(0), &mut out);
        f.push_message(b"\nTP2", None, t(1), &mut out);
        assert_eq!(frames(&out), vec![&b"TP1"[..], b"\nTP2"]);
    }
}
