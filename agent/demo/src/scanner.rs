//! The demo's virtual serial scanner: a pseudo-terminal whose far end the agent reads as a
//! serial port, exactly as it reads a USB serial scanner.

use std::path::PathBuf;

use anyhow::Context;

/// A virtual serial scanner: a pseudo-terminal whose far end the agent reads as a serial
/// port; lines typed in the terminal are "scanned" into it with the scanner's CR.
pub struct VirtualScanner {
    pub(crate) master: std::fs::File,
    _slave: std::os::fd::OwnedFd,
    /// The serial port the agent reads.
    pub path: PathBuf,
}

impl VirtualScanner {
    /// Opens a pseudo-terminal.
    pub fn open() -> anyhow::Result<VirtualScanner> {
        let pty = nix::pty::openpty(None, None).context("opening a pseudo-terminal")?;
        let path = nix::unistd::ttyname(&pty.slave).context("naming the pseudo-terminal")?;
        Ok(VirtualScanner {
            master: std::fs::File::from(pty.master),
            _slave: pty.slave,
            path,
        })
    }

    /// The agent's `[[scanner]]` entry for it.
    pub fn scanner_config(&self) -> anyhow::Result<tillpass_hardware::ScannerConfig> {
        let text = format!(
            "name = \"virtual\"\ndevice = {{ kind = \"serial\", path = {:?} }}\n",
            self.path.display().to_string()
        );
        toml::from_str(&text).context("virtual scanner configuration")
    }
}
