//! A serial scanner on a pseudo-terminal: the agent opens the slave end through a by-id
//! style link, the test types into the master.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// The master end of a pty whose slave the agent reads as a serial scanner.
pub struct Pty {
    master: TTYPort,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pty")
    }
}

impl Pty {
    /// Plugs a new pty behind `link`. Make it after the agent started: a pty opened
    /// earlier would be inherited by the agent process.
    pub fn plug(link: &Path) -> Result<Pty, String> {
        let (mut master, slave) = TTYPort::pair().map_err(|e| format!("pty: {e}"))?;
        let slave_path = PathBuf::from(slave.name().ok_or("pty: the slave has no name")?);
        drop(slave);
        master
            .set_timeout(Duration::from_secs(10))
            .map_err(|e| format!("pty: {e}"))?;
        std::os::unix::fs::symlink(&slave_path, link)
            .map_err(|e| format!("linking {}: {e}", link.display()))?;
        Ok(Pty { master })
    }

    /// Types `text` and the CR that ends a scan.
    pub fn type_scan(&mut self, text: &str) -> Result<(), String> {
        let mut line = text.as_bytes().to_vec();
        line.push(b'\r');
        self.master
            .write_all(&line)
            .and_then(|()| self.master.flush())
            .map_err(|e| format!("typing into the pty: {e}"))
    }
}
