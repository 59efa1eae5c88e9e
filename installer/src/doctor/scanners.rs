//! Scanners: every `[[scanner]]` of the configuration that names a device must be there,
//! be a character device, and be readable by the service user as the unit runs it (user
//! `tillpass`, groups `tillpass`, `dialout`, `input`).
//!
//! Devices are not staged: on a staged root (`--root`) the paths are looked up on this
//! machine, which is where an agent run from that root reads its scanners.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{Finding, Status};
use crate::layout::Layout;
use crate::service::{SERVICE_USER, SUPPLEMENTARY_GROUPS};
use crate::system::System;

/// Who the agent runs as: its uid (if the account exists here) and its groups' gids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// The service user's uid, when the account exists on this machine.
    pub uid: Option<u32>,
    /// The gids of its primary and supplementary groups that exist on this machine.
    pub gids: Vec<u32>,
}

impl ServiceIdentity {
    /// The service user as the unit runs it, from this machine's accounts.
    pub fn lookup(system: &dyn System) -> ServiceIdentity {
        let account = system.user(SERVICE_USER);
        let mut gids: Vec<u32> = account.map(|a| a.gid).into_iter().collect();
        for group in std::iter::once(SERVICE_USER).chain(SUPPLEMENTARY_GROUPS) {
            if let Some(gid) = system.group(group) {
                gids.push(gid);
            }
        }
        gids.sort_unstable();
        gids.dedup();
        ServiceIdentity {
            uid: account.map(|a| a.uid),
            gids,
        }
    }

    /// Whether a file of `mode` owned by `uid`:`gid` is readable by this identity
    /// (root excepted: the service never runs as root).
    pub fn can_read(&self, mode: u32, uid: u32, gid: u32) -> bool {
        if self.uid == Some(uid) {
            return mode & 0o400 != 0;
        }
        if self.gids.contains(&gid) {
            return mode & 0o040 != 0;
        }
        mode & 0o004 != 0
    }
}

/// One finding per scanner with a device; one `ok` when none is configured.
pub fn check(layout: &Layout, system: &dyn System) -> Vec<Finding> {
    let Ok(text) = std::fs::read_to_string(layout.config_file()) else {
        // The config check reports a missing file.
        return Vec::new();
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let scanners = table
        .get("scanner")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    if scanners.is_empty() {
        return vec![Finding::ok(
            "scanners",
            "no [[scanner]] configured: scans come from the POS (POST /v1/identify)",
        )];
    }
    let identity = ServiceIdentity::lookup(system);
    scanners
        .iter()
        .enumerate()
        .map(|(i, scanner)| {
            let name = scanner
                .get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", i + 1));
            let device = scanner.get("device");
            let kind = device
                .and_then(|d| d.get("kind"))
                .and_then(toml::Value::as_str)
                .unwrap_or("?");
            match (
                kind,
                device
                    .and_then(|d| d.get("path"))
                    .and_then(toml::Value::as_str),
            ) {
                ("serial" | "keyboard" | "hidpos", Some(path)) => {
                    check_device(&name, kind, Path::new(path), &identity)
                }
                ("serial" | "keyboard" | "hidpos", None) => Finding::bad(
                    "scanner",
                    Status::Fail,
                    format!("scanner {name}: no device path"),
                    "give it `path = \"/dev/…\"` in config.toml (`tillpass scanners` prints a \
                     ready-to-paste entry)",
                ),
                (other, _) => Finding::ok(
                    "scanner",
                    format!("scanner {name}: kind {other}, no device to check"),
                ),
            }
        })
        .collect()
}

fn check_device(name: &str, kind: &str, path: &Path, identity: &ServiceIdentity) -> Finding {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            return Finding::bad(
                "scanner",
                Status::Fail,
                format!("scanner {name}: {shown} is not there ({e})"),
                "plug the scanner in (check its cable and USB mode), then look for it with \
                 `tillpass scanners` or `ls -l /dev/tillpass/ /dev/serial/by-id/ \
                 /dev/input/by-id/`, and correct its path in /etc/tillpass/config.toml",
            );
        }
    };
    if !meta.file_type().is_char_device() {
        return Finding::bad(
            "scanner",
            Status::Fail,
            format!("scanner {name}: {shown} is not a character device"),
            "point the scanner's path at its device node (`tillpass scanners` lists them)",
        );
    }
    let mode = meta.mode() & 0o7777;
    if !identity.can_read(mode, meta.uid(), meta.gid()) {
        return Finding::bad(
            "scanner",
            Status::Fail,
            format!(
                "scanner {name}: {shown} (mode {mode:04o}, uid {} gid {}) is not readable by \
                 the service user {SERVICE_USER} (groups {SERVICE_USER}, {})",
                meta.uid(),
                meta.gid(),
                SUPPLEMENTARY_GROUPS.join(", ")
            ),
            "our udev rules give known scanners to group tillpass: `udevadm control --reload \
             && udevadm trigger`, then replug it; for a vendor the rules do not know, add its \
             USB vendor id to /etc/udev/rules.d/70-tillpass-scanners.rules",
        );
    }
    let note = if identity.uid.is_none() {
        " (no tillpass account on this machine: judged by its groups)"
    } else {
        ""
    };
    Finding::ok(
        "scanner",
        format!("scanner {name}: {kind} {shown} readable by the service{note}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_judged_as_the_kernel_would() {
        let service = ServiceIdentity {
            uid: Some(990),
            gids: vec![20, 990],
        };
        assert!(service.can_read(0o660, 0, 20), "group dialout");
        assert!(!service.can_read(0o600, 0, 20), "root only");
        assert!(service.can_read(0o666, 0, 0), "world");
        assert!(
            !service.can_read(0o604, 0, 20),
            "group bits rule for members"
        );
        assert!(service.can_read(0o400, 990, 0), "owner");
        assert!(
            !service.can_read(0o066, 990, 20),
            "owner bits rule for the owner"
        );
    }

    #[test]
    fn missing_and_non_device_paths_fail_with_what_to_do() {
        let service = ServiceIdentity::default();
        let f = check_device("front", "serial", Path::new("/dev/tillpass/nope"), &service);
        assert_eq!(f.status, Status::Fail);
        assert!(f.fix.unwrap().contains("tillpass scanners"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        let f = check_device("front", "serial", &file, &service);
        assert!(f.detail.contains("not a character device"), "{f}");
        let f = check_device("front", "serial", Path::new("/dev/null"), &service);
        assert_eq!(f.status, Status::Ok, "{f}");
    }
}
