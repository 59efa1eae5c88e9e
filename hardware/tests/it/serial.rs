//! Serial scanners through pseudo-terminals and the real serialport code path.
//!
//! The test holds the master side of a pty (the "scanner"); the supervisor opens the slave by
//! path through a symlink standing in for `/dev/serial/by-id/...`. Closing the master is an
//! unplug; a new pty with the symlink re-pointed is a replug.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use tillpass_hardware::config::{DeviceConfig, Parity, SerialConfig};
use tillpass_hardware::framer::Terminator;
use tillpass_hardware::{DisconnectReason, OpenProblem, ScannerError, ScannerEvent};

use crate::util::{Running, scanner, token};

/// The master side of a pty, and the path of its slave.
struct Pty {
    master: TTYPort,
    slave: PathBuf,
}

impl Pty {
    /// A new pty. The pair's own slave handle is closed at once: the supervisor opens the
    /// slave by path, as it would a real device.
    fn new() -> Pty {
        let (mut master, slave) = TTYPort::pair().expect("pty pair");
        let name = slave.name().expect("slave name");
        drop(slave);
        master.set_timeout(Duration::from_secs(5)).unwrap();
        Pty {
            master,
            slave: PathBuf::from(name),
        }
    }

    /// Atomically points `link` at this pty's slave (the way udev replaces a link).
    fn link_from(&self, link: &Path) {
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&self.slave, &tmp).unwrap();
        std::fs::rename(&tmp, link).unwrap();
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }
}

/// A new pty behind `link`.
fn plug(link: &Path) -> Pty {
    let pty = Pty::new();
    pty.link_from(link);
    pty
}

/// A pretend scanner on the master side of a pty, reachable through a by-id style link.
struct PtyScanner {
    pty: Pty,
    link: PathBuf,
    _dir: tempfile::TempDir,
}

impl PtyScanner {
    fn new() -> PtyScanner {
        let dir = tempfile::tempdir().unwrap();
        let by_id = dir.path().join("serial/by-id");
        std::fs::create_dir_all(&by_id).unwrap();
        let link = by_id.join("usb-Honeywell_Imaging___Mobility_1900_TEST123-if00");
        let pty = plug(&link);
        PtyScanner {
            pty,
            link,
            _dir: dir,
        }
    }

    /// Unplug: the by-id link goes away (as udev removes it) and the master closes. A new
    /// pty waits, not yet linked. (Removing the link first also keeps this test's
    /// supervisor from reopening a pts number that another test's new pty reuses.)
    fn unplug(&mut self) {
        std::fs::remove_file(&self.link).unwrap();
        let old = std::mem::replace(&mut self.pty, Pty::new());
        drop(old);
    }

    /// Replug: point the link at the new pty.
    fn replug(&mut self) {
        self.pty.link_from(&self.link);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.pty.send(bytes);
    }
}

impl Drop for PtyScanner {
    fn drop(&mut self) {
        // Unlink before the master closes, for the reason given in `unplug`.
        let _ = std::fs::remove_file(&self.link);
    }
}

impl PtyScanner {
    fn config(&self, terminator: Option<Terminator>) -> tillpass_hardware::ScannerConfig {
        let mut config = scanner(
            "front",
            DeviceConfig::Serial(SerialConfig {
                path: self.link.clone(),
                baud: 9600,
                parity: Parity::None,
                data_bits: 8,
                stop_bits: 1,
                flow_control: Default::default(),
            }),
        );
        config.framing.terminator = terminator;
        config
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_arrive_through_a_by_id_link() {
    let mut pty = PtyScanner::new();
    let mut run = Running::start(vec![pty.config(None)]);
    match run.connected().await {
        ScannerEvent::Connected {
            path,
            target,
            detail,
            ..
        } => {
            assert_eq!(path, pty.link);
            assert!(
                target.unwrap().starts_with("/dev/pts"),
                "resolved through the link"
            );
            assert!(detail.contains("9600 8N1"), "{detail}");
        }
        _ => unreachable!(),
    }
    let tok = token("TP", 268, 7);
    pty.send(format!("{tok}\r").as_bytes());
    assert_eq!(run.scan().await, tok);
    // An AIM identifier is read and stripped.
    pty.send(b"]Q1TP42\r");
    match run
        .wait_for("Scan", |e| matches!(e, ScannerEvent::Scan(_)))
        .await
    {
        ScannerEvent::Scan(scan) => {
            assert_eq!(scan.label, "TP42");
            assert_eq!(scan.symbology, tillpass_hardware::Symbology::QrCode);
            assert_eq!(scan.raw, b"]Q1TP42");
        }
        _ => unreachable!(),
    }
    run.shutdown().await;
    let ScannerEvent::Disconnected { reason, .. } = run.disconnected().await else {
        unreachable!()
    };
    assert_eq!(reason, DisconnectReason::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_terminator_and_split_chunks() {
    let cases: [(Option<Terminator>, &[&[u8]]); 5] = [
        (Some(Terminator::Cr), &[b"TP1\r", b"TP", b"2\r", b"TP3\r\n"]),
        (Some(Terminator::Lf), &[b"TP1\n", b"TP2\r", b"\n", b"TP3\n"]),
        (
            Some(Terminator::CrLf),
            &[b"TP1\r\n", b"TP2\r", b"\nTP3", b"\r\n"],
        ),
        (Some(Terminator::Tab), &[b"TP1\tTP2\t", b"TP3\t"]),
        (Some(Terminator::None), &[b"TP1"]),
    ];
    for (terminator, chunks) in cases {
        let mut pty = PtyScanner::new();
        let mut config = pty.config(terminator);
        // Long enough that a busy CI machine pausing the writer does not split a scan.
        config.framing.idle_gap_ms = Some(300);
        let mut run = Running::start(vec![config]);
        run.connected().await;
        let mut want = vec!["TP1", "TP2", "TP3"];
        if terminator == Some(Terminator::None) {
            want = vec!["TP1"];
        }
        for chunk in chunks {
            pty.send(chunk);
        }
        for label in want {
            assert_eq!(run.scan().await, label, "{terminator:?}");
        }
        run.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_reports_disconnected_and_replug_reconnects() {
    let mut pty = PtyScanner::new();
    let mut run = Running::start(vec![pty.config(None)]);
    run.connected().await;
    pty.send(b"TP1\r");
    assert_eq!(run.scan().await, "TP1");

    // Unplug: close the master.
    pty.unplug();
    let ScannerEvent::Disconnected { reason, .. } = run.disconnected().await else {
        unreachable!()
    };
    assert!(
        matches!(reason, DisconnectReason::Hangup | DisconnectReason::IoError),
        "{reason:?}"
    );

    // Replug: a new pty behind the same link.
    pty.replug();
    run.connected().await;
    pty.send(b"TP3\r");
    assert_eq!(run.scan().await, "TP3");
    // While unplugged, "not found" was expected and not reported.
    assert!(
        !run.seen.iter().any(|e| matches!(
            e,
            ScannerEvent::Error {
                error: ScannerError::Open { .. },
                ..
            }
        )),
        "{:#?}",
        run.seen
    );
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_9600_baud_line_paced_byte_by_byte() {
    // 8N1 at 9600 baud: 10 bits per character, 1.042 ms each.
    let char_time = Duration::from_micros(1_042);
    for terminator in [Terminator::Cr, Terminator::None] {
        let mut pty = PtyScanner::new();
        let mut config = pty.config(Some(terminator));
        // Far above the 1 ms between characters; long enough that a busy CI machine pausing
        // the writer does not split the scan.
        config.framing.idle_gap_ms = Some(500);
        let mut run = Running::start(vec![config]);
        run.connected().await;
        let tok = token("TPX", 150, 11);
        let mut line = tok.clone().into_bytes();
        if terminator == Terminator::Cr {
            line.push(b'\r');
        }
        let mut pace = tokio::time::interval(char_time);
        for byte in &line {
            pace.tick().await;
            pty.send(std::slice::from_ref(byte));
        }
        assert_eq!(run.scan().await, tok, "{terminator:?}");
        // One scan, not several.
        assert_eq!(
            run.seen
                .iter()
                .filter(|e| matches!(e, ScannerEvent::Scan(_)))
                .count(),
            1
        );
        run.shutdown().await;
        assert!(
            !run.seen
                .iter()
                .any(|e| matches!(e, ScannerEvent::Error { .. })),
            "{:#?}",
            run.seen
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_and_oversized_scans_are_reported_with_their_bytes() {
    let mut pty = PtyScanner::new();
    let mut config = pty.config(Some(Terminator::Cr));
    config.framing.idle_gap_ms = Some(60);
    config.framing.max_len = 16;
    let mut run = Running::start(vec![config]);
    run.connected().await;
    pty.send(b"TP12");
    let ScannerEvent::Error { error, .. } = run.error().await else {
        unreachable!()
    };
    assert_eq!(error.raw(), Some(&b"TP12"[..]));
    assert!(matches!(error, ScannerError::Partial { .. }), "{error:?}");

    pty.send(b"0123456789ABCDEFGHIJ\rTP5\r");
    let ScannerEvent::Error { error, .. } = run.error().await else {
        unreachable!()
    };
    assert_eq!(
        error,
        ScannerError::Oversized {
            limit: 16,
            raw: b"0123456789ABCDEF".to_vec()
        }
    );
    assert_eq!(run.scan().await, "TP5");
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_port_is_busy_and_the_hint_names_the_holder() {
    let pty = PtyScanner::new();
    let holder = serialport::new(pty.link.to_string_lossy(), 9600)
        .open_native()
        .expect("first open");
    let mut run = Running::start(vec![pty.config(None)]);
    let ScannerEvent::Error { error, .. } = run.error().await else {
        unreachable!()
    };
    let ScannerError::Open { problem, hint, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*problem, OpenProblem::Busy);
    let me = format!("pid {}", std::process::id());
    assert!(hint.contains(&me), "{hint}");
    // Released: the supervisor gets it on its next try.
    drop(holder);
    run.connected().await;
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_plugged_in_after_start_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Zebra_DS2208-if00");
    let mut config = scanner(
        "late",
        DeviceConfig::Serial(SerialConfig {
            path: link.clone(),
            baud: 115_200,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            flow_control: Default::default(),
        }),
    );
    config.framing.terminator = Some(Terminator::Cr);
    let mut run = Running::start(vec![config]);
    let ScannerEvent::Error { error, .. } = run.error().await else {
        unreachable!()
    };
    assert!(
        matches!(
            error,
            ScannerError::Open {
                problem: OpenProblem::NotFound,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.hint().unwrap().contains("tillpass scanners"),
        "{error}"
    );
    let mut pty = plug(&link);
    run.connected().await;
    pty.send(b"TP77\r");
    assert_eq!(run.scan().await, "TP77");
    run.shutdown().await;
    std::fs::remove_file(&link).unwrap();
}
