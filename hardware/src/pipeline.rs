//! One device's pure processing: decoder → framer → label, with the timing rule in front
//! of the keyboard decoder when the device is shared with a person's keyboard.
//!
//! No I/O and no clock: the caller passes each input with its time, calls
//! [`Pipeline::on_idle`] once [`Pipeline::deadline`] has passed, and turns the
//! [`Output`]s into events. The supervisor does exactly that; tests, benchmarks and replayed
//! recordings do the same without any device.

use crate::burst::{BurstClassifier, Route};
use crate::clock::Timestamp;
use crate::config::{DeviceConfig, ScannerConfig};
use crate::event::ScannerError;
use crate::framer::{Framed, Framer};
use crate::hidpos::{HidPosDecoder, HidPosOutput};
use crate::label::{Label, LabelParser};
use crate::wedge::{KeyDecoder, KeyEvent};

/// Input from a transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Bytes from a serial line, TCP or stdin.
    Bytes(&'a [u8]),
    /// One key event from a keyboard-wedge scanner (its time is its own).
    Key(KeyEvent),
    /// One HID-POS input report, report id first.
    Report(&'a [u8]),
}

/// What the pipeline produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A scan.
    Scan {
        /// The parsed label.
        label: Label,
        /// The frame as received (terminator removed).
        raw: Vec<u8>,
        /// Time of the last input of the scan.
        input_at: Timestamp,
    },
    /// Something that could not be read.
    Error(ScannerError),
    /// A key a person typed on a shared device: hand it back to the POS.
    Forward(KeyEvent),
}

#[derive(Debug)]
enum Decoder {
    Bytes,
    Keys(KeyDecoder),
    HidPos(HidPosDecoder),
}

/// Decoder, framer and label parser for one device.
#[derive(Debug)]
pub struct Pipeline {
    decoder: Decoder,
    classifier: Option<BurstClassifier>,
    framer: Framer,
    label: LabelParser,
    hid_last: Option<Timestamp>,
    text: String,
    framed: Vec<Framed>,
    routes: Vec<Route>,
}

impl Pipeline {
    /// The pipeline for a configured scanner.
    #[must_use]
    pub fn new(config: &ScannerConfig) -> Self {
        let settings = config.framer_settings();
        let (decoder, classifier) = match &config.device {
            DeviceConfig::Keyboard(k) => (
                Decoder::Keys(KeyDecoder::new(k.keymap.keymap())),
                k.shared_with_keyboard
                    .then(|| BurstClassifier::new(k.burst_rule())),
            ),
            DeviceConfig::HidPos(h) => (
                Decoder::HidPos(HidPosDecoder::new(h.layout.layout(), settings.max_len)),
                None,
            ),
            DeviceConfig::Serial(_) | DeviceConfig::Stdin | DeviceConfig::Tcp(_) => {
                (Decoder::Bytes, None)
            }
        };
        Pipeline {
            decoder,
            classifier,
            framer: Framer::new(settings),
            label: config.label_parser(),
            hid_last: None,
            text: String::new(),
            framed: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Sets the keyboard decoder's Caps Lock state (no effect on other decoders).
    pub fn set_caps_lock(&mut self, on: bool) {
        if let Decoder::Keys(k) = &mut self.decoder {
            k.set_caps_lock(on);
        }
    }

    /// Processes one input that arrived at `t` (key events carry their own time).
    pub fn push(&mut self, input: Input<'_>, t: Timestamp, out: &mut Vec<Output>) {
        match input {
            Input::Key(ev) => match self.classifier.as_mut() {
                Some(classifier) => {
                    classifier.push(ev, &mut self.routes);
                    self.route(out);
                }
                None => self.key(ev),
            },
            Input::Bytes(bytes) => match &mut self.decoder {
                Decoder::Bytes => self.framer.push(bytes, t, &mut self.framed),
                _ => self.mismatch("bytes", bytes, t),
            },
            Input::Report(report) => match &mut self.decoder {
                Decoder::HidPos(dec) => {
                    let result = dec.push(report);
                    // The stall timer runs from the last report of a scan in progress.
                    self.hid_last = dec.in_progress().then_some(t);
                    match result {
                        HidPosOutput::Pending => {}
                        HidPosOutput::Message { data, aim } => {
                            self.framer.push_message(&data, aim, t, &mut self.framed);
                        }
                        HidPosOutput::Malformed { detail, raw } => {
                            self.framed.push(Framed::Error(ScannerError::Undecodable {
                                detail: format!("HID-POS report: {detail}"),
                                raw,
                            }));
                        }
                    }
                }
                _ => self.mismatch("a HID report", report, t),
            },
        }
        self.finish(out);
    }

    /// Reports what is pending once the idle gap has passed at `now`.
    pub fn on_idle(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        if let Some(classifier) = self.classifier.as_mut() {
            classifier.on_idle(now, &mut self.routes);
            self.route(out);
        }
        self.hid_timeout(now, false);
        self.framer.on_idle(now, &mut self.framed);
        self.finish(out);
    }

    /// Reports everything pending now, idle gap or not (the device went away).
    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        if let Some(classifier) = self.classifier.as_mut() {
            classifier.on_idle(Timestamp::from_micros(u64::MAX), &mut self.routes);
            self.route(out);
        }
        self.hid_timeout(now, true);
        if let Decoder::Keys(k) = &mut self.decoder {
            k.reset();
        }
        self.framer.flush(now, &mut self.framed);
        self.finish(out);
    }

    /// When [`Pipeline::on_idle`] should next be called, if anything is pending.
    #[must_use]
    pub fn deadline(&self) -> Option<Timestamp> {
        let hid = self
            .hid_last
            .map(|t| t.saturating_add(self.framer.settings().idle_gap));
        [
            self.classifier.as_ref().and_then(BurstClassifier::deadline),
            hid,
            self.framer.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn route(&mut self, out: &mut Vec<Output>) {
        let routes = std::mem::take(&mut self.routes);
        for route in &routes {
            match *route {
                Route::Machine(ev) => self.key(ev),
                Route::Human(ev) => out.push(Output::Forward(ev)),
            }
        }
        self.routes = routes;
        self.routes.clear();
    }

    fn key(&mut self, ev: KeyEvent) {
        let Decoder::Keys(dec) = &mut self.decoder else {
            self.mismatch("a key event", &[], ev.at);
            return;
        };
        self.text.clear();
        let result = dec.push(ev, &mut self.text);
        if !self.text.is_empty() {
            self.framer
                .push(self.text.as_bytes(), ev.at, &mut self.framed);
        }
        if let Err(detail) = result {
            self.framer.taint(detail, ev.at);
        }
    }

    fn hid_timeout(&mut self, now: Timestamp, force: bool) {
        let Some(last) = self.hid_last else {
            return;
        };
        if !force && now < last.saturating_add(self.framer.settings().idle_gap) {
            return;
        }
        self.hid_last = None;
        if let Decoder::HidPos(dec) = &mut self.decoder
            && let Some(raw) = dec.abandon()
        {
            let idle = now.saturating_since(last);
            self.framed.push(Framed::Error(ScannerError::Partial {
                raw,
                idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            }));
        }
    }

    fn mismatch(&mut self, what: &str, raw: &[u8], _t: Timestamp) {
        self.framed.push(Framed::Error(ScannerError::Undecodable {
            detail: format!("{what} arrived at a decoder for another kind of device"),
            raw: raw.to_vec(),
        }));
    }

    fn finish(&mut self, out: &mut Vec<Output>) {
        for framed in self.framed.drain(..) {
            out.push(match framed {
                Framed::Frame(frame) => match self.label.parse(&frame.bytes, frame.aim) {
                    Ok(label) => Output::Scan {
                        label,
                        raw: frame.bytes,
                        input_at: frame.last_at,
                    },
                    Err(error) => Output::Error(ScannerError::Label {
                        error,
                        raw: frame.bytes,
                    }),
                },
                Framed::Error(error) => Output::Error(error),
            });
        }
    }
}
