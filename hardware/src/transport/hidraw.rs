//! HID-POS scanners through hidraw (Linux).
//!
//! Claim: open the hidraw node and take an exclusive advisory lock (hidraw has no exclusive
//! open; the lock keeps two tillpass instances apart, and a HID-POS interface never types
//! into the POS anyway). Check, when sysfs shows it, that the report descriptor declares
//! usage page 0x8C: a scanner left in keyboard mode has no such page. Then a dedicated
//! thread polls with a 100 ms timeout (the stop check) and reads one report per `read`; on
//! unplug the kernel reports a hang-up and reads fail with EIO.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Chunk, Connection, io_open_error, open_error, spawn_reader_thread};
use crate::clock::Timestamp;
use crate::config::HidPosConfig;
use crate::event::{DisconnectReason, OpenProblem, ScannerError};
use crate::hidpos;
use crate::hint::NodeKind;

/// How often a waiting reader looks at the stop flag, in milliseconds.
const TICK_MS: u8 = 100;

pub(super) async fn open(config: &HidPosConfig) -> Result<Connection, ScannerError> {
    let path = config.path.clone();
    let file = tokio::task::spawn_blocking(move || claim(&path))
        .await
        .map_err(|e| {
            open_error(
                NodeKind::HidRaw,
                &config.path,
                OpenProblem::Io,
                e.to_string(),
            )
        })??;
    let name = format!("scanner-hidraw {}", config.path.display());
    let (rx, stopper) = spawn_reader_thread(name, move |stop, tx| {
        let mut file = file;
        let mut buf = [0u8; 256];
        // Stop when asked, or when the connection was dropped without being closed.
        while !stop.load(Ordering::Relaxed) && !tx.is_closed() {
            let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(TICK_MS)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(DisconnectReason::from_io(&e.into())));
                    return;
                }
            }
            let hangup = fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR));
            let item = match file.read(&mut buf) {
                Ok(0) => Err(DisconnectReason::EndOfFile),
                Ok(n) => Ok(Chunk::Report(buf[..n].to_vec(), Timestamp::now())),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if hangup && e.kind() == std::io::ErrorKind::WouldBlock => {
                    Err(DisconnectReason::Hangup)
                }
                Err(e) => Err(DisconnectReason::from_io(&e)),
            };
            let last = item.is_err();
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    })
    .map_err(|e| {
        open_error(
            NodeKind::HidRaw,
            &config.path,
            OpenProblem::Io,
            e.to_string(),
        )
    })?;
    Ok(Connection {
        rx,
        target: std::fs::canonicalize(&config.path).ok(),
        detail: format!("HID-POS, layout {:?}", config.layout),
        caps_lock: None,
        forward: None,
        stopper,
    })
}

fn claim(path: &Path) -> Result<File, ScannerError> {
    let file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| io_open_error(NodeKind::HidRaw, path, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(open_error(
                NodeKind::HidRaw,
                path,
                OpenProblem::Busy,
                "another process holds its lock".to_owned(),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(io_open_error(NodeKind::HidRaw, path, &e)),
    }
    if let Some(descriptor) = sysfs_descriptor(path)
        && !hidpos::descriptor_has_barcode_page(&descriptor)
    {
        return Err(open_error(
            NodeKind::HidRaw,
            path,
            OpenProblem::WrongKind,
            "its report descriptor has no HID-POS usage page (0x8C): the scanner may be in keyboard mode; scan its \"USB HID-POS\" programming code".to_owned(),
        ));
    }
    Ok(file)
}

/// `/sys/class/hidraw/<node>/device/report_descriptor`, if readable.
fn sysfs_descriptor(path: &Path) -> Option<Vec<u8>> {
    let node: PathBuf = std::fs::canonicalize(path).ok()?;
    let name = node.file_name()?;
    std::fs::read(
        Path::new("/sys/class/hidraw")
            .join(name)
            .join("device/report_descriptor"),
    )
    .ok()
}
