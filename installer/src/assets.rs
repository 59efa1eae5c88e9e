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

    /// The (USB vendor id, `TILLPASS_VENDOR` name) pairs the udev rules give to the
    /// `tillpass` group.
    fn rule_vendors() -> std::collections::BTreeMap<u16, String> {
        UDEV_RULES
            .lines()
            .filter_map(|line| {
                let id = line.split("ATTRS{idVendor}==\"").nth(1)?.get(..4)?;
                let name = line.split("ENV{TILLPASS_VENDOR}=\"").nth(1)?;
                let name = name.split('"').next()?;
                Some((u16::from_str_radix(id, 16).unwrap(), name.to_owned()))
            })
            .collect()
    }

    #[test]
    fn udev_rules_give_exactly_the_vendors_discovery_proposes() {
        use tillpass_hardware::discovery::KNOWN_VENDORS;
        let rules = rule_vendors();
        let known: std::collections::BTreeMap<u16, &str> = KNOWN_VENDORS.iter().copied().collect();
        let missing: Vec<String> = known
            .iter()
            .filter(|(id, _)| !rules.contains_key(id))
            .map(|(id, name)| format!("{id:04x} {name}"))
            .collect();
        assert!(
            missing.is_empty(),
            "`tillpass scanners` proposes vendors the udev rules never give to the tillpass \
             group: {missing:?}"
        );
        let unknown: Vec<String> = rules
            .keys()
            .filter(|id| !known.contains_key(id))
            .map(|id| format!("{id:04x}"))
            .collect();
        assert!(
            unknown.is_empty(),
            "rules for vendors discovery does not know: {unknown:?}"
        );
        // Each rule names its maker as discovery does (the symlinks' first word).
        for (id, name) in &rules {
            let maker = known[id]
                .split_whitespace()
                .next()
                .unwrap()
                .to_ascii_lowercase();
            assert_eq!(name, &maker, "vendor {id:04x}");
        }
    }

    #[test]
    fn udev_rules_keep_modemmanager_away() {
        assert!(UDEV_RULES.contains("ENV{ID_MM_DEVICE_IGNORE}=\"1\""));
        assert!(UDEV_RULES.contains("GROUP=\"tillpass\""));
    }
}
