//! Hints a technician can act on, for devices that cannot be opened.
//!
//! Permission denied names the device's group and mode and the fix (join the group, or
//! install the udev rules); busy names the process holding the device when `/proc` shows it
//! (ModemManager probing a new serial port is the classic); not found says how to list what
//! is plugged in.

use std::fs;
use std::path::{Path, PathBuf};

use crate::event::OpenProblem;

/// The kind of device node, for wording the hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A serial port.
    Serial,
    /// An evdev input device.
    Input,
    /// A hidraw node.
    HidRaw,
    /// `/dev/uinput` (for handing a person's keys back on a shared keyboard).
    Uinput,
    /// A TCP address.
    Tcp,
}

impl NodeKind {
    fn usual_group(self) -> &'static str {
        match self {
            NodeKind::Serial => "dialout",
            NodeKind::Input | NodeKind::Uinput => "input",
            NodeKind::HidRaw => "plugdev",
            NodeKind::Tcp => "",
        }
    }
}

/// The hint for `problem` opening `path`.
#[must_use]
pub fn open_hint(kind: NodeKind, path: &Path, problem: OpenProblem) -> String {
    match problem {
        OpenProblem::NotFound => not_found(kind, path),
        OpenProblem::PermissionDenied => permission_hint(kind, path, &node_owner(path)),
        OpenProblem::Busy => busy_hint(kind, path, &holders(Path::new("/proc"), path)),
        OpenProblem::Unsupported => {
            "keyboard-wedge and HID-POS scanners are read on Linux only; use a serial scanner here"
                .to_owned()
        }
        OpenProblem::WrongKind => format!(
            "{} is not that kind of device: check the scanner's `kind` in the configuration",
            path.display()
        ),
        OpenProblem::Io => {
            "look for USB errors in the kernel log (journalctl -k); try another cable or port"
                .to_owned()
        }
    }
}

fn not_found(kind: NodeKind, path: &Path) -> String {
    match kind {
        NodeKind::Tcp => format!(
            "nothing answers at {}: is the scanner bridge (or the demo) running?",
            path.display()
        ),
        NodeKind::Uinput => {
            "no /dev/uinput: load the module (modprobe uinput; add it to /etc/modules-load.d)"
                .to_owned()
        }
        _ => format!(
            "is the scanner plugged in and powered? by-id links exist only while it is; `tillpass scanners` lists what is connected{}",
            siblings(path)
        ),
    }
}

/// ` (present in /dev/serial/by-id: a, b)` when the parent directory lists other entries.
fn siblings(path: &Path) -> String {
    let Some(dir) = path.parent() else {
        return String::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return String::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() || names.len() > 12 {
        return String::new();
    }
    names.sort();
    format!(" (present in {}: {})", dir.display(), names.join(", "))
}

/// Who owns a device node: owner name, group name, permission bits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOwner {
    /// The owning user's name.
    pub user: Option<String>,
    /// The owning group's name.
    pub group: Option<String>,
    /// The permission bits.
    pub mode: Option<u32>,
}

/// Reads the owner of `path` (following links) and names them from `/etc/passwd` and
/// `/etc/group`.
#[must_use]
pub fn node_owner(path: &Path) -> NodeOwner {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match fs::metadata(path) {
            Ok(meta) => NodeOwner {
                user: name_for_id(Path::new("/etc/passwd"), meta.uid()),
                group: name_for_id(Path::new("/etc/group"), meta.gid()),
                mode: Some(meta.mode() & 0o7777),
            },
            Err(_) => NodeOwner::default(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        NodeOwner::default()
    }
}

/// The name for numeric id `id` in a passwd- or group-style file (`name:x:id:...`).
#[must_use]
pub fn name_for_id(file: &Path, id: u32) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == id).then(|| name.to_owned())
    })
}

/// The permission-denied hint, given who owns the node.
#[must_use]
pub fn permission_hint(kind: NodeKind, path: &Path, owner: &NodeOwner) -> String {
    let shown = match (&owner.user, &owner.group, owner.mode) {
        (Some(u), Some(g), Some(m)) => format!("{} is {u}:{g} mode {m:04o}", path.display()),
        _ => format!("{} cannot be read by this user", path.display()),
    };
    let group_readable = owner.mode.is_some_and(|m| m & 0o040 != 0);
    let group = match &owner.group {
        Some(g) if group_readable && g != "root" => g.as_str(),
        _ => kind.usual_group(),
    };
    match kind {
        NodeKind::HidRaw if !group_readable => format!(
            "{shown}; hidraw nodes are root-only by default: install the tillpass udev rules (`tillpass-install doctor` checks them), which give the scanner's hidraw node to group tillpass"
        ),
        NodeKind::Uinput => format!(
            "{shown}; a shared keyboard needs /dev/uinput: install the tillpass udev rules (`tillpass-install doctor`) or add the service user to group {group}"
        ),
        _ => format!(
            "{shown}; add the service user to group {group} (usermod -aG {group} tillpass, then restart the service) or install the tillpass udev rules (`tillpass-install doctor`)"
        ),
    }
}

/// The busy hint, given the processes seen holding the node.
#[must_use]
pub fn busy_hint(kind: NodeKind, path: &Path, holders: &[(u32, String)]) -> String {
    let what = match kind {
        NodeKind::Input => "grabbed by another program",
        _ => "held open exclusively by another program",
    };
    if holders.is_empty() {
        return format!(
            "{} is {what}; run `sudo fuser -v {}` to see which (another tillpass instance, a POS driver, ModemManager)",
            path.display(),
            path.display()
        );
    }
    let list: Vec<String> = holders
        .iter()
        .map(|(pid, name)| format!("pid {pid} ({name})"))
        .collect();
    let mut hint = format!("{} is {what}: held by {}", path.display(), list.join(", "));
    if holders.iter().any(|(_, name)| name == "ModemManager") {
        hint.push_str(
            "; ModemManager probes new serial ports: the tillpass udev rules set ID_MM_DEVICE_IGNORE for scanners, or stop ModemManager",
        );
    }
    hint
}

/// Processes (pid, command name) with `path` open, as far as `proc_root` lets us see.
#[must_use]
pub fn holders(proc_root: &Path, path: &Path) -> Vec<(u32, String)> {
    let Ok(target) = fs::canonicalize(path) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok).take(65_536) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let fd_dir: PathBuf = entry.path().join("fd");
        let Ok(fds) = fs::read_dir(&fd_dir) else {
            continue;
        };
        let holds = fds
            .filter_map(Result::ok)
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link == target));
        if holds {
            let name = fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "?".to_owned());
            found.push((pid, name));
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_hints_name_the_group() {
        let owner = NodeOwner {
            user: Some("root".into()),
            group: Some("dialout".into()),
            mode: Some(0o660),
        };
        let hint = permission_hint(NodeKind::Serial, Path::new("/dev/ttyACM0"), &owner);
        assert!(hint.contains("root:dialout mode 0660"), "{hint}");
        assert!(hint.contains("usermod -aG dialout tillpass"), "{hint}");
        let hidraw = NodeOwner {
            user: Some("root".into()),
            group: Some("root".into()),
            mode: Some(0o600),
        };
        let hint = permission_hint(NodeKind::HidRaw, Path::new("/dev/hidraw0"), &hidraw);
        assert!(hint.contains("udev rules"), "{hint}");
        let unknown = permission_hint(NodeKind::Input, Path::new("/x"), &NodeOwner::default());
        assert!(unknown.contains("group input"), "{unknown}");
    }

    #[test]
    fn busy_hints_name_the_holder() {
        let hint = busy_hint(
            NodeKind::Serial,
            Path::new("/dev/ttyACM0"),
            &[(812, "ModemManager".into())],
        );
        assert!(hint.contains("pid 812 (ModemManager)"), "{hint}");
        assert!(hint.contains("ID_MM_DEVICE_IGNORE"), "{hint}");
        let hint = busy_hint(NodeKind::Input, Path::new("/dev/input/event3"), &[]);
        assert!(hint.contains("fuser"), "{hint}");
    }

    #[test]
    fn names_ids_from_group_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("group");
        fs::write(&file, "root:x:0:\ndialout:x:20:tillpass\n").unwrap();
        assert_eq!(name_for_id(&file, 20).as_deref(), Some("dialout"));
        assert_eq!(name_for_id(&file, 21), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_this_process_holding_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node");
        fs::write(&path, b"").unwrap();
        let _open = fs::File::open(&path).unwrap();
        let found = holders(Path::new("/proc"), &path);
        assert!(
            found.iter().any(|(pid, _)| *pid == std::process::id()),
            "{found:?}"
        );
    }
}
