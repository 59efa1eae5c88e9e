//! The system files tillpass installs, embedded in the installer so that one binary carries
//! everything: the systemd unit, the scanner udev rules, the sysusers.d and tmpfiles.d
//! entries. The same files go into the `.deb`.

/// The systemd unit `tillpass.service`.
pub const UNIT: &str = include_str!("../assets/tillpass.service");
/// The udev rules for the common retail scanner vendors.
pub const UDEV_RULES: &str = include_str!("../assets/70-tillpass-scanners.rules");
/// The sysusers.d entry: user and group `tillpass`.
pub const SYSUSERS: &str = include_str!("../assets/sysusers.d/tillpass.conf");
/// The tmpfiles.d entry: configuration and state directories.
pub const TMPFILES: &str = include_str!("../assets/tmpfiles.d/tillpass.conf");

/// USB vendor ids the udev rules know, with the vendor's name.
pub const SCANNER_VENDORS: &[(&str, &str)] = &[
    ("0c2e", "honeywell"),
    ("0536", "honeywell"),
    ("05e0", "zebra"),
    ("05f9", "datalogic"),
    ("1eab", "newland"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_keeps_scanners_reachable_and_the_service_hardened() {
        assert!(UNIT.contains("Type=notify"));
        assert!(UNIT.contains("WatchdogSec="));
        assert!(UNIT.contains("StateDirectory=tillpass"));
        assert!(UNIT.contains("ConfigurationDirectory=tillpass"));
        assert!(UNIT.contains("ProtectSystem=strict"));
        assert!(UNIT.contains("NoNewPrivileges=yes"));
        for class in ["char-ttyUSB", "char-ttyACM", "char-hidraw", "char-input"] {
            assert!(UNIT.contains(&format!("DeviceAllow={class} rw")), "{class}");
        }
        assert!(
            !UNIT.lines().any(|l| l.trim() == "PrivateDevices=yes"),
            "PrivateDevices would hide the scanners"
        );
    }

    #[test]
    fn unit_bounds_memory_and_descriptors() {
        assert!(UNIT.lines().any(|l| l == "MemoryMax=256M"), "{UNIT}");
        assert!(UNIT.lines().any(|l| l == "LimitNOFILE=4096"), "{UNIT}");
    }

    #[test]
    fn sysusers_creates_no_group_but_tillpass() {
        let creates: Vec<&str> = SYSUSERS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert!(
            creates
                .iter()
                .all(|l| l.starts_with("g tillpass ") || l.starts_with("u tillpass ")),
            "{creates:?}"
        );
    }

    #[test]
    fn udev_rules_cover_every_vendor_and_keep_modemmanager_away() {
        for (vid, name) in SCANNER_VENDORS {
            let rule = format!("ATTRS{{idVendor}}==\"{vid}\", ENV{{TILLPASS_VENDOR}}=\"{name}\"");
            assert!(UDEV_RULES.contains(&rule), "{rule}");
        }
        assert!(UDEV_RULES.contains("ENV{ID_MM_DEVICE_IGNORE}=\"1\""));
        assert!(UDEV_RULES.contains("GROUP=\"tillpass\""));
    }
}
