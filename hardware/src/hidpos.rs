//! USB HID-POS scanners (usage page 0x8C, "Bar Code Scanner"): reports to messages.
//!
//! A HID-POS scanner sends each scan as one or more input reports of a fixed size. Each
//! report carries a length byte, a slice of data and, when the scan does not fit, a
//! "continued" flag saying more reports follow. Where the fields sit differs by vendor, so a
//! [`HidPosLayout`] names the offsets; [`HidPosLayout::HONEYWELL`] and
//! [`HidPosLayout::NEWLAND`] are built in and a configuration may give its own.
//!
//! Honeywell (64-byte report 2): `[0]` report id, `[1]` data length (0-56), `[2..5]` AIM
//! identifier, `[5..61]` data, `[61]` Honeywell code id, `[63]` bit 0 = continued.
//! Newland (64-byte report 2): `[0]` report id, `[1]` length, `[2..58]` data, `[62]` Newland
//! code id; no AIM field. Newland's documentation does not describe multi-report scans; we
//! read the same continued bit as Honeywell's, which a configuration can move or drop.
//!
//! Reports with another report id (status, attribute reports) are not scans and are skipped.

use serde::{Deserialize, Serialize};

use crate::symbology::AimId;

/// Where the fields of a scanned-data report sit (offsets count the report id byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidPosLayout {
    /// The report id of scanned-data reports.
    pub report_id: u8,
    /// Offset of the data-length byte.
    pub length_at: usize,
    /// Offset of the three AIM identifier bytes, if the report has them.
    #[serde(default)]
    pub aim_at: Option<usize>,
    /// Offset of the first data byte.
    pub data_at: usize,
    /// The most data bytes one report carries.
    pub data_max: usize,
    /// Offset and bit mask of the "continued" flag, if scans can span reports.
    #[serde(default)]
    pub continued: Option<(usize, u8)>,
}

impl HidPosLayout {
    /// Honeywell HID-POS (also "USB HID" in Honeywell manuals).
    pub const HONEYWELL: HidPosLayout = HidPosLayout {
        report_id: 2,
        length_at: 1,
        aim_at: Some(2),
        data_at: 5,
        data_max: 56,
        continued: Some((63, 0x01)),
    };

    /// Newland HID-POS.
    pub const NEWLAND: HidPosLayout = HidPosLayout {
        report_id: 2,
        length_at: 1,
        aim_at: None,
        data_at: 2,
        data_max: 56,
        continued: Some((63, 0x01)),
    };
}

/// What one report contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HidPosOutput {
    /// Nothing yet (a continued report, or a report that is not scanned data).
    Pending,
    /// A complete scan.
    Message {
        /// The scanned data: every report's part, joined in order.
        data: Vec<u8>,
        /// The AIM identifier from the first report, if the layout has one and it is valid.
        aim: Option<AimId>,
    },
    /// A report that does not fit the layout, or a scan that grew past the maximum length.
    Malformed {
        /// What was wrong.
        detail: String,
        /// The report (or the data joined so far).
        raw: Vec<u8>,
    },
}

/// Joins scanned-data reports into messages, for one device.
#[derive(Debug, Clone)]
pub struct HidPosDecoder {
    layout: HidPosLayout,
    max_len: usize,
    data: Vec<u8>,
    aim: Option<AimId>,
    in_progress: bool,
    overflowed: bool,
}

impl HidPosDecoder {
    /// A decoder for `layout`, refusing scans longer than `max_len` bytes.
    #[must_use]
    pub fn new(layout: HidPosLayout, max_len: usize) -> Self {
        HidPosDecoder {
            layout,
            max_len,
            data: Vec::new(),
            aim: None,
            in_progress: false,
            overflowed: false,
        }
    }

    /// Whether a multi-report scan is waiting for its last report.
    #[must_use]
    pub fn in_progress(&self) -> bool {
        self.in_progress
    }

    /// Gives up on a scan in progress (its last report never came), returning its data.
    pub fn abandon(&mut self) -> Option<Vec<u8>> {
        let was = std::mem::take(&mut self.in_progress);
        self.aim = None;
        self.overflowed = false;
        let data = std::mem::take(&mut self.data);
        was.then_some(data)
    }

    /// Decodes one report, as read from hidraw (report id first).
    pub fn push(&mut self, report: &[u8]) -> HidPosOutput {
        let layout = self.layout;
        match report.first() {
            Some(&id) if id == layout.report_id => {}
            _ => return HidPosOutput::Pending,
        }
        let malformed = |detail: String| HidPosOutput::Malformed {
            detail,
            raw: report.to_vec(),
        };
        let Some(&len) = report.get(layout.length_at) else {
            return malformed(format!(
                "report of {} bytes has no length byte",
                report.len()
            ));
        };
        let len = usize::from(len);
        if len > layout.data_max {
            return malformed(format!(
                "length {len} exceeds the layout's {} data bytes",
                layout.data_max
            ));
        }
        let Some(chunk) = report.get(layout.data_at..layout.data_at + len) else {
            return malformed(format!(
                "report of {} bytes is too short for {len} data bytes",
                report.len()
            ));
        };
        let continued = match layout.continued {
            Some((at, mask)) => match report.get(at) {
                Some(flags) => flags & mask != 0,
                None => {
                    return malformed(format!(
                        "report of {} bytes has no continued flag",
                        report.len()
                    ));
                }
            },
            None => false,
        };
        if !self.in_progress {
            self.in_progress = true;
            self.aim = layout
                .aim_at
                .and_then(|at| report.get(at..at + 3))
                .and_then(|b| match b {
                    [b']', code, modifier] => AimId::from_parts(*code, *modifier),
                    [code, modifier, _] => AimId::from_parts(*code, *modifier),
                    _ => None,
                });
        }
        if self.data.len() + chunk.len() > self.max_len {
            self.overflowed = true;
        } else {
            self.data.extend_from_slice(chunk);
        }
        if continued {
            return HidPosOutput::Pending;
        }
        let overflowed = std::mem::take(&mut self.overflowed);
        self.in_progress = false;
        let data = std::mem::take(&mut self.data);
        let aim = self.aim.take();
        if overflowed {
            return HidPosOutput::Malformed {
                detail: format!("scan longer than {} bytes", self.max_len),
                raw: data,
            };
        }
        HidPosOutput::Message { data, aim }
    }
}

/// Whether a HID report descriptor declares usage page 0x8C (Bar Code Scanner).
///
/// Walks the short items of the descriptor and looks at every Usage Page (global item, tag
/// 0) and at extended 32-bit usages whose high half is the page.
#[must_use]
pub fn descriptor_has_barcode_page(descriptor: &[u8]) -> bool {
    const BARCODE_PAGE: u32 = 0x8C;
    let mut i = 0;
    while let Some(&prefix) = descriptor.get(i) {
        if prefix == 0xFE {
            // Long item: size byte, tag byte, data.
            let size = descriptor.get(i + 1).map_or(0, |s| usize::from(*s));
            i += 3 + size;
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let Some(data) = descriptor.get(i + 1..i + 1 + size) else {
            return false;
        };
        let value = data
            .iter()
            .rev()
            .fold(0u32, |v, &b| (v << 8) | u32::from(b));
        let tag_type = prefix & 0xFC;
        if tag_type == 0x04 && value == BARCODE_PAGE {
            return true;
        }
        // Local Usage / Usage Minimum / Usage Maximum with an explicit page.
        if matches!(tag_type, 0x08 | 0x18 | 0x28) && size == 4 && value >> 16 == BARCODE_PAGE {
            return true;
        }
        i += 1 + size;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn honeywell(data: &[u8], aim: &[u8; 3], continued: bool) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[0] = 2;
        r[1] = u8::try_from(data.len()).unwrap();
        r[2..5].copy_from_slice(aim);
        r[5..5 + data.len()].copy_from_slice(data);
        r[61] = b'Q';
        r[63] = u8::from(continued);
        r
    }

    #[test]
    fn joins_continued_reports() {
        let mut dec = HidPosDecoder::new(HidPosLayout::HONEYWELL, 4096);
        let data: Vec<u8> = (0..130).map(|i| b'0' + (i % 10)).collect();
        assert_eq!(
            dec.push(&honeywell(&data[..56], b"]Q1", true)),
            HidPosOutput::Pending
        );
        assert!(dec.in_progress());
        assert_eq!(
            dec.push(&honeywell(&data[56..112], b"]Q1", true)),
            HidPosOutput::Pending
        );
        let out = dec.push(&honeywell(&data[112..], b"]Q1", false));
        assert_eq!(
            out,
            HidPosOutput::Message {
                data,
                aim: AimId::parse_prefix(b"]Q1")
            }
        );
        assert!(!dec.in_progress());
    }

    #[test]
    fn rejects_what_does_not_fit() {
        let mut dec = HidPosDecoder::new(HidPosLayout::HONEYWELL, 100);
        let mut bad = honeywell(b"AB", b"]Q1", false);
        bad[1] = 57;
        assert!(matches!(dec.push(&bad), HidPosOutput::Malformed { .. }));
        assert!(matches!(
            dec.push(&[2, 5, 0]),
            HidPosOutput::Malformed { .. }
        ));
        assert_eq!(
            dec.push(&[1, 2, 3]),
            HidPosOutput::Pending,
            "other report ids"
        );
        // Too long overall.
        for _ in 0..2 {
            assert_eq!(
                dec.push(&honeywell(&[b'1'; 56], b"]Q1", true)),
                HidPosOutput::Pending
            );
        }
        assert!(matches!(
            dec.push(&honeywell(b"1", b"]Q1", false)),
            HidPosOutput::Malformed { .. }
        ));
        // And the next scan is fine again.
        assert!(matches!(
            dec.push(&honeywell(b"TP1", b"]Q1", false)),
            HidPosOutput::Message { .. }
        ));
    }

    #[test]
    fn newland_layout() {
        let mut dec = HidPosDecoder::new(HidPosLayout::NEWLAND, 4096);
        let mut r = vec![0u8; 64];
        r[0] = 2;
        r[1] = 3;
        r[2..5].copy_from_slice(b"TP1");
        r[62] = b'Q';
        assert_eq!(
            dec.push(&r),
            HidPosOutput::Message {
                data: b"TP1".to_vec(),
                aim: None
            }
        );
    }

    #[test]
    fn finds_the_barcode_page() {
        // Usage Page (0x8C) as a 2-byte item, Usage (Bar Code Scanner), Collection.
        assert!(descriptor_has_barcode_page(&[
            0x06, 0x8C, 0x00, 0x09, 0x02, 0xA1, 0x01
        ]));
        assert!(descriptor_has_barcode_page(&[0x05, 0x8C]));
        // Generic Desktop keyboard.
        assert!(!descriptor_has_barcode_page(&[
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0xC0
        ]));
        // Truncated.
        assert!(!descriptor_has_barcode_page(&[0x06, 0x8C]));
    }
}
