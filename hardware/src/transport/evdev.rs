//! Keyboard-wedge scanners through evdev (Linux).
//!
//! Claim: open the event device and grab it (EVIOCGRAB) so that no key it types reaches the
//! console, X, Wayland or the POS; "busy" means another program holds the grab. Enable: read
//! the Caps Lock LED so decoding starts in the right state. Then a task reads events
//! asynchronously and forwards the key events of each `SYN_REPORT` batch with the kernel's
//! timestamps converted to the process clock. ENODEV ends the connection (unplugged).
//!
//! With `shared_with_keyboard`, a uinput virtual keyboard with the same keys is created and
//! the keys a person typed are re-emitted on it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use evdev::uinput::VirtualDevice;
use evdev::{Device, EventType, InputEvent, KeyCode, LedCode};

use super::{Chunk, Connection, Forward, io_open_error, open_error, spawn_reader_task};
use crate::clock::Timestamp;
use crate::config::KeyboardConfig;
use crate::event::{DisconnectReason, OpenProblem, ScannerError};
use crate::hint::NodeKind;
use crate::wedge::{KeyEvent, KeyValue};

pub(super) async fn open(config: &KeyboardConfig) -> Result<Connection, ScannerError> {
    let path = config.path.clone();
    let shared = config.shared_with_keyboard;
    let claimed = tokio::task::spawn_blocking(move || claim(&path, shared))
        .await
        .map_err(|e| {
            open_error(
                NodeKind::Input,
                &config.path,
                OpenProblem::Io,
                e.to_string(),
            )
        })??;
    let (device, caps_lock, forward, name) = claimed;
    let mut stream = device
        .into_event_stream()
        .map_err(|e| io_open_error(NodeKind::Input, &config.path, &e))?;
    let (rx, stopper) = spawn_reader_task(|tx| async move {
        let mut batch = Vec::new();
        loop {
            let item = match stream.next_event().await {
                Ok(ev) if ev.event_type() == EventType::KEY => {
                    if let Some(value) = KeyValue::from_evdev(ev.value()) {
                        batch.push(KeyEvent {
                            code: ev.code(),
                            value,
                            at: kernel_time(ev.timestamp()),
                        });
                    }
                    continue;
                }
                Ok(ev) if ev.event_type() == EventType::SYNCHRONIZATION => {
                    if batch.is_empty() {
                        continue;
                    }
                    Ok(Chunk::Keys(std::mem::take(&mut batch)))
                }
                Ok(_) => continue,
                Err(e) => Err(DisconnectReason::from_io(&e)),
            };
            let last = item.is_err();
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    Ok(Connection {
        rx,
        target: std::fs::canonicalize(&config.path).ok(),
        detail: format!(
            "keyboard wedge {:?}, keymap {}, grabbed{}",
            name,
            config.keymap,
            if shared {
                ", shared with a keyboard"
            } else {
                ""
            }
        ),
        caps_lock: Some(caps_lock),
        forward,
        stopper,
    })
}

type Claimed = (Device, bool, Option<Box<dyn Forward>>, String);

fn claim(path: &Path, shared: bool) -> Result<Claimed, ScannerError> {
    let mut device = Device::open(path).map_err(|e| io_open_error(NodeKind::Input, path, &e))?;
    let is_keyboard = device
        .supported_keys()
        .is_some_and(|keys| keys.contains(KeyCode::KEY_A) && keys.contains(KeyCode::KEY_ENTER));
    if !is_keyboard {
        return Err(open_error(
            NodeKind::Input,
            path,
            OpenProblem::WrongKind,
            "the input device has no letter or Enter keys".to_owned(),
        ));
    }
    device
        .grab()
        .map_err(|e| io_open_error(NodeKind::Input, path, &e))?;
    let caps_lock = device
        .get_led_state()
        .map(|leds| leds.contains(LedCode::LED_CAPSL))
        .unwrap_or(false);
    let forward: Option<Box<dyn Forward>> = if shared {
        let keys = device
            .supported_keys()
            .map(|k| k.iter().collect::<evdev::AttributeSet<KeyCode>>());
        let uinput = Path::new("/dev/uinput");
        let mut builder = VirtualDevice::builder()
            .map_err(|e| io_open_error(NodeKind::Uinput, uinput, &e))?
            .name("tillpass keyboard pass-through");
        if let Some(keys) = &keys {
            builder = builder
                .with_keys(keys)
                .map_err(|e| io_open_error(NodeKind::Uinput, uinput, &e))?;
        }
        let virtual_device = builder
            .build()
            .map_err(|e| io_open_error(NodeKind::Uinput, uinput, &e))?;
        Some(Box::new(PassThrough(virtual_device)))
    } else {
        None
    };
    let name = device.name().unwrap_or("unnamed").to_owned();
    Ok((device, caps_lock, forward, name))
}

struct PassThrough(VirtualDevice);

impl Forward for PassThrough {
    fn forward(&mut self, event: KeyEvent) {
        let ev = InputEvent::new(EventType::KEY.0, event.code, event.value.to_evdev());
        if let Err(e) = self.0.emit(&[ev]) {
            tracing::warn!(error = %e, "could not hand a key back to the POS");
        }
    }
}

/// The process-clock time of a kernel (wall-clock) event timestamp.
fn kernel_time(at: SystemTime) -> Timestamp {
    let age = SystemTime::now()
        .duration_since(at)
        .unwrap_or(Duration::ZERO);
    Timestamp::now().saturating_sub(age)
}
