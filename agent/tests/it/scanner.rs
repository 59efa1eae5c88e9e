//! A serial scanner on a pseudo-terminal, unplugged and plugged back while the agent runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use crate::util::{Central, Till, now};

struct Pty {
    master: TTYPort,
}

impl Pty {
    fn plug(link: &Path) -> Pty {
        let (mut master, slave) = TTYPort::pair().unwrap();
        let slave_path = PathBuf::from(slave.name().unwrap());
        drop(slave);
        master.set_timeout(Duration::from_secs(5)).unwrap();
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&slave_path, &tmp).unwrap();
        std::fs::rename(&tmp, link).unwrap();
        Pty { master }
    }

    fn type_scan(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
        self.master.flush().unwrap();
    }
}

#[test]
fn a_serial_scanner_survives_unplug_and_replug() {
    let central = Central::new();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Honeywell_scanner-if00");
    let scanners = format!(
        "[[scanner]]\nname = \"front\"\ndevice = {{ kind = \"serial\", path = {:?}, baud = 115200 }}\nreconnect = {{ initial_ms = 20, max_ms = 200 }}\n",
        link.display().to_string()
    );
    let till = Till::new(&central, 3, &scanners);
    // The agent starts before the scanner is plugged: a pty made earlier would be
    // inherited by the agent process, and closing it here would not unplug anything.
    let agent = till.start();
    let mut pty = Pty::plug(&link);
    agent.wait_status("the scanner connected", |s| {
        s["scanners"]["front"]["connected"] == true
    });

    let t = now();
    pty.type_scan(&central.pass("C-7", t - 10, 3600, 21));
    let status = agent.wait_status("the scanned customer", |s| {
        s["current_customer"]["subject"] == "C-7"
    });
    assert_eq!(status["current_customer"]["source"], "front");

    // Unplug: udev removes the by-id link and the device goes away.
    std::fs::remove_file(&link).unwrap();
    drop(pty);
    agent.wait_status("the scanner disconnected", |s| {
        s["scanners"]["front"]["connected"] == false
    });

    // Replug: a new pty behind the same by-id link.
    let mut pty = Pty::plug(&link);
    agent.wait_status("the scanner reconnected", |s| {
        s["scanners"]["front"]["connected"] == true
    });
    pty.type_scan(&central.pass("C-8", t - 10, 3600, 22));
    agent.wait_status("a scan after the replug", |s| {
        s["current_customer"]["subject"] == "C-8"
    });
    agent.stop();
}
