//! Telling a scanner's keystrokes from a person's on one shared input device.
//!
//! **When it is needed.** A USB keyboard-wedge scanner normally is an input device of its
//! own (`/dev/input/by-id/usb-<Vendor>_<Model>-event-kbd`): the agent grabs it whole and no
//! key it types reaches the POS. The timing rule is only needed when scanner and keyboard
//! arrive on *one* input device: a scanner daisy-chained through a keyboard (PS/2 wedge
//! Y-cable or a keyboard with a scanner port), a POS keyboard with a built-in reader, some
//! KVM switches and wireless receivers that pair a keyboard and a scanner. Then the agent
//! grabs the shared device, keeps bursts for itself and hands everything else back to the POS
//! through a virtual keyboard (`shared_with_keyboard = true` in the configuration).
//!
//! **The rule.** At least [`BurstRule::min_keys`] key presses, each at most
//! [`BurstRule::max_gap`] after the previous one (default: 4 keys, 20 ms apart), are a machine:
//! nobody types 50 keys a second, and scanners type a key every 1-16 ms. Until a burst is
//! proven the first presses are held back, so a person's keys reach the POS up to `max_gap`
//! late; once proven, the whole burst, held-back keys included, goes to the decoder.
//! Modifier keys and releases follow the keys they belong to.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::keycode;
use crate::wedge::{KeyEvent, KeyValue};

/// The timing rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstRule {
    /// Key presses needed to call a burst a machine.
    pub min_keys: usize,
    /// Largest gap between two presses of one burst.
    pub max_gap: Duration,
}

impl Default for BurstRule {
    fn default() -> Self {
        BurstRule {
            min_keys: 4,
            max_gap: Duration::from_millis(20),
        }
    }
}

/// Where an event goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the scanner decoder.
    Machine(KeyEvent),
    /// Back to the POS (a person typed it).
    Human(KeyEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Machine,
}

/// Splits one device's key events into machine bursts and human typing.
#[derive(Debug, Clone)]
pub struct BurstClassifier {
    rule: BurstRule,
    mode: Mode,
    held: Vec<KeyEvent>,
    presses: usize,
    last_press: Option<Timestamp>,
    last_event: Option<Timestamp>,
}

impl BurstClassifier {
    /// A classifier applying `rule`.
    #[must_use]
    pub fn new(rule: BurstRule) -> Self {
        BurstClassifier {
            rule,
            mode: Mode::Undecided,
            held: Vec::new(),
            presses: 0,
            last_press: None,
            last_event: None,
        }
    }

    /// Classifies one event, appending what can be routed now to `out`.
    pub fn push(&mut self, ev: KeyEvent, out: &mut Vec<Route>) {
        let counts = ev.value == KeyValue::Press && !keycode::is_modifier(ev.code);
        if counts {
            let close = self
                .last_press
                .is_some_and(|last| ev.at.saturating_since(last) <= self.rule.max_gap);
            // Held modifiers alone belong to the burst this press may start.
            if !close && (self.presses > 0 || self.mode == Mode::Machine) {
                self.end_burst(out);
            }
            self.last_press = Some(ev.at);
        }
        self.last_event = Some(ev.at);
        match self.mode {
            Mode::Machine => out.push(Route::Machine(ev)),
            Mode::Undecided => {
                if self.held.is_empty() && ev.value != KeyValue::Press {
                    // A release (or repeat) of a key already handed to the person.
                    out.push(Route::Human(ev));
                    return;
                }
                self.held.push(ev);
                if counts {
                    self.presses += 1;
                    if self.presses >= self.rule.min_keys {
                        self.mode = Mode::Machine;
                        out.extend(self.held.drain(..).map(Route::Machine));
                    }
                }
            }
        }
    }

    /// Routes held events once the gap has passed at `now`.
    pub fn on_idle(&mut self, now: Timestamp, out: &mut Vec<Route>) {
        if let Some(deadline) = self.deadline()
            && now >= deadline
        {
            self.end_burst(out);
        }
    }

    /// When [`BurstClassifier::on_idle`] should next be called.
    #[must_use]
    pub fn deadline(&self) -> Option<Timestamp> {
        let busy = !self.held.is_empty() || self.mode == Mode::Machine;
        if busy {
            self.last_event.map(|t| t.saturating_add(self.rule.max_gap))
        } else {
            None
        }
    }

    fn end_burst(&mut self, out: &mut Vec<Route>) {
        out.extend(self.held.drain(..).map(Route::Human));
        self.mode = Mode::Undecided;
        self.presses = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keycode::*;

    fn ev(code: u16, value: KeyValue, ms: u64) -> KeyEvent {
        KeyEvent {
            code,
            value,
            at: Timestamp::from_micros(ms * 1000),
        }
    }

    fn typed(keys: &[(u16, u64)]) -> Vec<KeyEvent> {
        keys.iter()
            .flat_map(|&(code, ms)| {
                [
                    ev(code, KeyValue::Press, ms),
                    ev(code, KeyValue::Release, ms + 1),
                ]
            })
            .collect()
    }

    fn run(events: &[KeyEvent], end_ms: u64) -> (Vec<u16>, Vec<u16>) {
        let mut c = BurstClassifier::new(BurstRule::default());
        let mut out = Vec::new();
        for e in events {
            c.push(*e, &mut out);
        }
        c.on_idle(Timestamp::from_micros(end_ms * 1000), &mut out);
        let mut machine = Vec::new();
        let mut human = Vec::new();
        for r in out {
            match r {
                Route::Machine(e) if e.value == KeyValue::Press => machine.push(e.code),
                Route::Human(e) if e.value == KeyValue::Press => human.push(e.code),
                _ => {}
            }
        }
        (machine, human)
    }

    #[test]
    fn a_fast_burst_is_a_machine_and_slow_typing_a_person() {
        let scan = typed(&[
            (KEY_T, 0),
            (KEY_P, 5),
            (KEY_1, 10),
            (KEY_2, 15),
            (KEY_ENTER, 20),
        ]);
        assert_eq!(
            run(&scan, 100).0,
            vec![KEY_T, KEY_P, KEY_1, KEY_2, KEY_ENTER]
        );
        let person = typed(&[(KEY_H, 0), (KEY_I, 150), (KEY_ENTER, 400)]);
        assert_eq!(run(&person, 1000), (vec![], vec![KEY_H, KEY_I, KEY_ENTER]));
        // Three quick keys are not enough.
        let three = typed(&[(KEY_A, 0), (KEY_B, 5), (KEY_C, 10)]);
        assert_eq!(run(&three, 1000).1, vec![KEY_A, KEY_B, KEY_C]);
    }

    #[test]
    fn a_person_then_a_scan() {
        let mut events = typed(&[(KEY_H, 0), (KEY_I, 200)]);
        events.extend(typed(&[
            (KEY_1, 300),
            (KEY_2, 302),
            (KEY_3, 304),
            (KEY_4, 306),
        ]));
        events.extend(typed(&[(KEY_X, 900)]));
        let (machine, human) = run(&events, 2000);
        assert_eq!(machine, vec![KEY_1, KEY_2, KEY_3, KEY_4]);
        assert_eq!(human, vec![KEY_H, KEY_I, KEY_X]);
    }

    #[test]
    fn modifiers_travel_with_their_burst() {
        let mut c = BurstClassifier::new(BurstRule::default());
        let mut out = Vec::new();
        c.push(ev(KEY_LEFTSHIFT, KeyValue::Press, 0), &mut out);
        for (i, code) in [KEY_T, KEY_P, KEY_1, KEY_2].into_iter().enumerate() {
            let ms = 1 + 2 * i as u64;
            c.push(ev(code, KeyValue::Press, ms), &mut out);
            c.push(ev(code, KeyValue::Release, ms + 1), &mut out);
        }
        c.push(ev(KEY_LEFTSHIFT, KeyValue::Release, 10), &mut out);
        assert!(out.iter().all(|r| matches!(r, Route::Machine(_))));
        assert_eq!(out.len(), 10);
        assert_eq!(c.deadline(), Some(Timestamp::from_micros(30_000)));
    }
}
