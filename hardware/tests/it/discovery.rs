//! Discovery against a fake sysfs and /dev built in a temporary directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use tillpass_hardware::config::{DeviceConfig, HidPosVendor, LayoutChoice};
use tillpass_hardware::discovery::{CandidateKind, DiscoveryRoots, discover_in};

fn write(path: &Path, text: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn link(target: &str, at: &Path) {
    fs::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(target, at).unwrap();
}

/// A USB device directory with its ids.
fn usb_device(sys: &Path, dir: &str, vendor: &str, product: &str, maker: &str, name: &str) {
    let d = sys.join(dir);
    write(&d.join("idVendor"), format!("{vendor}\n").as_bytes());
    write(&d.join("idProduct"), format!("{product}\n").as_bytes());
    write(&d.join("serial"), b"SN0042\n");
    write(&d.join("manufacturer"), format!("{maker}\n").as_bytes());
    write(&d.join("product"), format!("{name}\n").as_bytes());
}

/// Builds: a Honeywell CDC-ACM serial scanner with a by-id link, a generic FTDI adapter, an
/// empty and a real on-board UART, a Zebra keyboard-wedge scanner, a plain keyboard, a
/// mouse, a Newland HID-POS node and an unrelated hidraw node.
fn fake_tree(root: &Path) -> DiscoveryRoots {
    let sys = root.join("sys");
    let dev = root.join("dev");
    let pci = "devices/pci0000:00/0000:00:14.0/usb1";

    // Honeywell 1900 in USB serial (CDC-ACM) mode.
    usb_device(
        &sys,
        &format!("{pci}/1-1"),
        "0c2e",
        "0b61",
        "Honeywell Imaging & Mobility",
        "1900",
    );
    let acm = format!("{pci}/1-1/1-1:1.0/tty/ttyACM0");
    fs::create_dir_all(sys.join(&acm)).unwrap();
    link("../../../1-1:1.0", &sys.join(&acm).join("device"));
    link(&format!("../../{acm}"), &sys.join("class/tty/ttyACM0"));
    write(&dev.join("ttyACM0"), b"");
    link(
        "../../ttyACM0",
        &dev.join("serial/by-id/usb-Honeywell_Imaging___Mobility_1900_SN0042-if00"),
    );

    // An FTDI USB-serial adapter (could be anything).
    usb_device(
        &sys,
        &format!("{pci}/1-2"),
        "0403",
        "6001",
        "FTDI",
        "FT232R USB UART",
    );
    let ftdi = format!("{pci}/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0");
    fs::create_dir_all(sys.join(&ftdi)).unwrap();
    link("../../../ttyUSB0", &sys.join(&ftdi).join("device"));
    link(&format!("../../{ftdi}"), &sys.join("class/tty/ttyUSB0"));

    // On-board UARTs: ttyS0 has no port behind it, ttyS1 has a 16550A.
    for (name, kind) in [("ttyS0", "0"), ("ttyS1", "4")] {
        let d = format!("devices/platform/serial8250/tty/{name}");
        fs::create_dir_all(sys.join(&d)).unwrap();
        write(&sys.join(&d).join("type"), format!("{kind}\n").as_bytes());
        link("../../../serial8250", &sys.join(&d).join("device"));
        link(
            &format!("../../{d}"),
            &sys.join(format!("class/tty/{name}")),
        );
    }
    // A virtual terminal: no device link.
    fs::create_dir_all(sys.join("devices/virtual/tty/tty1")).unwrap();
    link(
        "../../devices/virtual/tty/tty1",
        &sys.join("class/tty/tty1"),
    );

    let keyboard_caps = b"120013 0 0 0 0 0 0 0 0 e080ffdf01cfffff fffffffffffffffe\n";
    let input =
        |usb: &str, hid: &str, input: &str, event: &str, vendor: &str, name: &str, caps: &[u8]| {
            let d = format!("{pci}/{usb}/{usb}:1.0/{hid}/input/{input}");
            write(&sys.join(&d).join("name"), format!("{name}\n").as_bytes());
            write(
                &sys.join(&d).join("id/vendor"),
                format!("{vendor}\n").as_bytes(),
            );
            write(&sys.join(&d).join("capabilities/key"), caps);
            let e = format!("{d}/{event}");
            fs::create_dir_all(sys.join(&e)).unwrap();
            link(&format!("../../{input}"), &sys.join(&e).join("device"));
            link(
                &format!("../../{e}"),
                &sys.join(format!("class/input/{event}")),
            );
            link(
                &format!("../../{d}"),
                &sys.join(format!("class/input/{input}")),
            );
        };
    usb_device(
        &sys,
        &format!("{pci}/1-3"),
        "05e0",
        "1200",
        "Zebra Technologies",
        "Symbol Bar Code Scanner",
    );
    input(
        "1-3",
        "0003:05E0:1200.0001",
        "input5",
        "event5",
        "05e0",
        "Symbol Bar Code Scanner",
        keyboard_caps,
    );
    write(&dev.join("input/event5"), b"");
    link(
        "../event5",
        &dev.join("input/by-id/usb-Zebra_Technologies_Symbol_Bar_Code_Scanner-event-kbd"),
    );
    usb_device(
        &sys,
        &format!("{pci}/1-4"),
        "046d",
        "c31c",
        "Logitech",
        "USB Keyboard",
    );
    input(
        "1-4",
        "0003:046D:C31C.0002",
        "input6",
        "event6",
        "046d",
        "Logitech USB Keyboard",
        keyboard_caps,
    );
    usb_device(
        &sys,
        &format!("{pci}/1-5"),
        "046d",
        "c077",
        "Logitech",
        "USB Optical Mouse",
    );
    input(
        "1-5",
        "0003:046D:C077.0003",
        "input7",
        "event7",
        "046d",
        "Logitech USB Optical Mouse",
        b"1f0000 0 0 0 0\n",
    );

    // hidraw: a Newland HID-POS interface, and a mouse's.
    let hidraw = |usb: &str, hid: &str, node: &str, id: &str, name: &str, descriptor: &[u8]| {
        let d = format!("{pci}/{usb}/{usb}:1.1/{hid}");
        write(&sys.join(&d).join("report_descriptor"), descriptor);
        write(
            &sys.join(&d).join("uevent"),
            format!("DRIVER=hid-generic\nHID_ID={id}\nHID_NAME={name}\nHID_UNIQ=SN0042\n")
                .as_bytes(),
        );
        let h = format!("{d}/hidraw/{node}");
        fs::create_dir_all(sys.join(&h)).unwrap();
        link(&format!("../../../{hid}"), &sys.join(&h).join("device"));
        link(
            &format!("../../{h}"),
            &sys.join(format!("class/hidraw/{node}")),
        );
    };
    usb_device(
        &sys,
        &format!("{pci}/1-6"),
        "1eab",
        "1d06",
        "Newland",
        "NLS-FR40",
    );
    hidraw(
        "1-6",
        "0003:1EAB:1D06.0004",
        "hidraw0",
        "0003:00001EAB:00001D06",
        "Newland NLS-FR40",
        &[0x06, 0x8c, 0x00, 0x09, 0x02, 0xa1, 0x01, 0xc0],
    );
    hidraw(
        "1-5",
        "0003:046D:C077.0005",
        "hidraw1",
        "0003:0000046D:0000C077",
        "Logitech Mouse",
        &[0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0xc0],
    );

    DiscoveryRoots { sys, dev }
}

#[test]
fn lists_candidates_from_a_fake_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    let roots = fake_tree(dir.path());
    let found = discover_in(&roots);
    let summary: Vec<(CandidateKind, String, bool)> = found
        .iter()
        .map(|c| {
            let name = c
                .dev_node
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (c.kind, name, c.likely_scanner)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (CandidateKind::Serial, "ttyACM0".into(), true),
            (CandidateKind::Keyboard, "event5".into(), true),
            (CandidateKind::HidPos, "hidraw0".into(), true),
            (CandidateKind::Serial, "ttyS1".into(), false),
            (CandidateKind::Serial, "ttyUSB0".into(), false),
            (CandidateKind::Keyboard, "event6".into(), false),
        ],
        "{found:#?}"
    );

    let honeywell = &found[0];
    assert_eq!(
        honeywell.path,
        roots
            .dev
            .join("serial/by-id/usb-Honeywell_Imaging___Mobility_1900_SN0042-if00")
    );
    assert_eq!(honeywell.dev_node, roots.dev.join("ttyACM0"));
    let usb = honeywell.usb.as_ref().unwrap();
    assert_eq!(
        (usb.vendor_id, usb.product_id, usb.serial.as_deref()),
        (0x0c2e, 0x0b61, Some("SN0042"))
    );
    assert_eq!(honeywell.vendor, Some("Honeywell (Metrologic)"));
    assert!(
        matches!(honeywell.device_config(), DeviceConfig::Serial(ref s) if s.path == honeywell.path)
    );

    let zebra = &found[1];
    assert_eq!(
        zebra.path,
        roots
            .dev
            .join("input/by-id/usb-Zebra_Technologies_Symbol_Bar_Code_Scanner-event-kbd")
    );
    assert_eq!(zebra.name.as_deref(), Some("Symbol Bar Code Scanner"));
    assert_eq!(zebra.vendor, Some("Zebra (Symbol)"));

    let newland = &found[2];
    assert!(
        newland.reasons.iter().any(|r| r.contains("0x8C")),
        "{:?}",
        newland.reasons
    );
    let DeviceConfig::HidPos(h) = newland.device_config() else {
        panic!()
    };
    assert_eq!(h.layout, LayoutChoice::Named(HidPosVendor::Newland));

    let ftdi = found
        .iter()
        .find(|c| c.dev_node.ends_with("ttyUSB0"))
        .unwrap();
    assert_eq!(ftdi.path, ftdi.dev_node, "no by-id link: the node itself");
    assert_eq!(
        ftdi.usb.as_ref().unwrap().product.as_deref(),
        Some("FT232R USB UART")
    );
}

#[test]
fn an_empty_or_missing_tree_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let roots = DiscoveryRoots {
        sys: dir.path().join("nope"),
        dev: dir.path().join("nada"),
    };
    assert!(discover_in(&roots).is_empty());
}
