//! Who owns the system files — the systemd unit, the scanner udev rules, the sysusers.d and
//! tmpfiles.d entries — and where they are.
//!
//! Each has one owner, never two copies that shadow each other:
//! - **the package** ([`Owner::Package`]): the `.deb` installs them in `/usr/lib` and
//!   upgrades them. `tillpass-install` then writes none of them (a copy in `/etc` would
//!   override the package's for systemd, udev, sysusers and tmpfiles alike, and keep the
//!   old one after every upgrade), and removes the copies an older `tillpass-install` left
//!   in `/etc` when they are its own. Site settings for the unit go in drop-ins under
//!   `/etc/systemd/system/tillpass.service.d/`.
//! - **the installer** ([`Owner::Installer`]): a till installed without the package (from
//!   a tarball, an image) gets them from `tillpass-install` in `/etc`, which it also
//!   updates and removes.
//!
//! The package is recognised by its unit in `/usr/lib/systemd/system`.

use std::path::PathBuf;

use crate::assets;
use crate::layout::Layout;

/// Who installs, upgrades and removes the system files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The `.deb`, in `/usr/lib`.
    Package,
    /// `tillpass-install`, in `/etc`.
    Installer,
}

/// One system file: what it is, where the owner keeps it, and its text as shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemFile {
    /// A short stable name, e.g. `unit-file`.
    pub check: &'static str,
    /// Where it is for the owner in force.
    pub path: PathBuf,
    /// Where the installer puts its own copy (the same as `path` when it owns the file).
    pub installer_path: PathBuf,
    /// Its text, as this version ships it.
    pub text: &'static str,
}

/// The system files of the till at `layout` and their owner.
#[derive(Debug, Clone)]
pub struct SystemFiles {
    /// Who owns them.
    pub owner: Owner,
    /// The unit, the udev rules, the sysusers.d and the tmpfiles.d entries, in that order.
    pub files: [SystemFile; 4],
}

impl SystemFiles {
    /// Looks at `layout`: the package's unit in `/usr/lib` means the package owns them all.
    pub fn of(layout: &Layout) -> SystemFiles {
        let owner = if layout.package_unit_file().is_file() {
            Owner::Package
        } else {
            Owner::Installer
        };
        let file = |check, package: PathBuf, installer: PathBuf, text| SystemFile {
            check,
            path: match owner {
                Owner::Package => package,
                Owner::Installer => installer.clone(),
            },
            installer_path: installer,
            text,
        };
        SystemFiles {
            owner,
            files: [
                file(
                    "unit-file",
                    layout.package_unit_file(),
                    layout.unit_file(),
                    assets::UNIT,
                ),
                file(
                    "udev-rules",
                    layout.package_udev_rules(),
                    layout.udev_rules(),
                    assets::UDEV_RULES,
                ),
                file(
                    "sysusers",
                    layout.package_sysusers(),
                    layout.sysusers(),
                    assets::SYSUSERS,
                ),
                file(
                    "tmpfiles",
                    layout.package_tmpfiles(),
                    layout.tmpfiles(),
                    assets::TMPFILES,
                ),
            ],
        }
    }

    /// The sysusers.d entry in force.
    pub fn sysusers(&self) -> &SystemFile {
        &self.files[2]
    }

    /// The unit in force.
    pub fn unit(&self) -> &SystemFile {
        &self.files[0]
    }

    /// The udev rules in force.
    pub fn udev_rules(&self) -> &SystemFile {
        &self.files[1]
    }
}

/// Whether `text` is a copy `tillpass-install` wrote: every shipped system file opens with
/// a `# tillpass` comment line. A file the operator wrote is never treated as ours.
pub fn written_by_us(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|l| l.starts_with("# tillpass"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_package_the_installer_owns_the_etc_copies() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let files = SystemFiles::of(&layout);
        assert_eq!(files.owner, Owner::Installer);
        assert_eq!(files.unit().path, layout.unit_file());
        assert_eq!(files.sysusers().path, layout.sysusers());
    }

    #[test]
    fn the_packages_unit_in_usr_lib_makes_the_package_the_owner_of_all_four() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let unit = layout.package_unit_file();
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, assets::UNIT).unwrap();
        let files = SystemFiles::of(&layout);
        assert_eq!(files.owner, Owner::Package);
        let paths: Vec<_> = files.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                dir.path().join("usr/lib/systemd/system/tillpass.service"),
                dir.path()
                    .join("usr/lib/udev/rules.d/70-tillpass-scanners.rules"),
                dir.path().join("usr/lib/sysusers.d/tillpass.conf"),
                dir.path().join("usr/lib/tmpfiles.d/tillpass.conf"),
            ]
        );
        assert_eq!(files.files[0].installer_path, layout.unit_file());
    }

    #[test]
    fn every_shipped_file_is_recognised_as_ours_and_nothing_else_is() {
        for text in [
            assets::UNIT,
            assets::UDEV_RULES,
            assets::SYSUSERS,
            assets::TMPFILES,
        ] {
            assert!(written_by_us(text), "{text}");
        }
        assert!(!written_by_us("[Service]\nRestartSec=5s\n"));
        assert!(!written_by_us(""));
    }
}
