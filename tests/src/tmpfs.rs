//! A small tmpfs mounted for one test: a disk that really fills up.
//!
//! SQLite's `max_page_count` would be simpler but is a per-connection setting that the
//! agent's own connection never sees; a filesystem of a few MiB is what a full disk really
//! is. Mounting needs root (CI runs the suite as root): without it the test fails with a
//! message that says so rather than being skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

/// The effective user id of this process, from `/proc/self/status`.
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` KiB on `path` (an existing empty folder).
    pub fn mount(path: &Path, size_kib: u64) -> Result<Tmpfs, String> {
        match effective_uid() {
            Some(0) => {}
            uid => {
                return Err(format!(
                    "this test mounts a small tmpfs to fill the agent's disk, which needs root \
                     (the CI runs the suite as root); running as uid {uid:?}: run it as root"
                ));
            }
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0755")])
            .arg("tmpfs")
            .arg(path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs on {} failed ({}): {}",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in `chunk`-byte pieces until the filesystem is full; the bytes written.
    pub fn fill(&self, name: &str, chunk: usize) -> Result<u64, String> {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path.join(name))
            .map_err(|e| format!("creating the ballast: {e}"))?;
        let block = vec![0xA5_u8; chunk.max(1)];
        let mut written = 0u64;
        // Big pieces first, then single bytes: the last page is filled too.
        for size in [block.len(), 4096, 1] {
            loop {
                match file.write(&block[..size.min(block.len())]) {
                    Ok(0) => break,
                    Ok(n) => written += u64::try_from(n).unwrap_or(0),
                    Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                    Err(e) => return Err(format!("writing the ballast: {e}")),
                }
            }
        }
        let _ = file.sync_all();
        Ok(written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something (a process not yet reaped) still holds a file: detach it now, the
            // kernel frees it when the last file closes.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
