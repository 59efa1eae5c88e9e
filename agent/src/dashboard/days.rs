//! Days and hours in the store's own time zone: the dashboard's "Today" is the store's
//! local day (23 or 25 hours long on the days the clocks change), and times are shown in
//! local time.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use tillpass_protocol::lang::Lang;

/// A local day: its date and the unix seconds it covers, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Day {
    /// The calendar date, in the store's time zone.
    pub date: Date,
    /// Its first second, unix seconds.
    pub start: i64,
    /// The first second of the next day, unix seconds.
    pub end: i64,
}

impl Day {
    /// The local day of the date, or `None` for a date out of range.
    pub fn of(date: Date, tz: &TimeZone) -> Option<Day> {
        let start = date.to_zoned(tz.clone()).ok()?.timestamp().as_second();
        let end = date
            .tomorrow()
            .ok()?
            .to_zoned(tz.clone())
            .ok()?
            .timestamp()
            .as_second();
        Some(Day { date, start, end })
    }

    /// The local day that holds the instant `unix`.
    pub fn containing(unix: i64, tz: &TimeZone) -> Option<Day> {
        let date = zoned(unix, tz)?.date();
        Day::of(date, tz)
    }

    /// The day named `YYYY-MM-DD`, or `None`.
    pub fn parse(text: &str, tz: &TimeZone) -> Option<Day> {
        let date: Date = text.trim().parse().ok()?;
        Day::of(date, tz)
    }

    /// `YYYY-MM-DD`, as links and date inputs carry it.
    pub fn iso(&self) -> String {
        self.date.to_string()
    }

    /// The day before.
    pub fn previous(&self, tz: &TimeZone) -> Option<Day> {
        Day::of(self.date.yesterday().ok()?, tz)
    }

    /// The day after.
    pub fn next(&self, tz: &TimeZone) -> Option<Day> {
        Day::of(self.date.tomorrow().ok()?, tz)
    }

    /// The day's hours: each one's local hour of the day and its `[start, end)` in unix
    /// seconds. 24 hours, or 23 or 25 on the days the clocks change.
    pub fn hours(&self, tz: &TimeZone) -> Vec<(i8, i64, i64)> {
        let mut hours = Vec::with_capacity(25);
        let mut at = self.start;
        while at < self.end {
            let end = (at + 3600).min(self.end);
            let hour = zoned(at, tz).map(|z| z.hour()).unwrap_or(0);
            hours.push((hour, at, end));
            at = end;
        }
        hours
    }

    /// The date as the manager reads it: `lunes, 2 de junio de 2025` is too long for a
    /// table; `02/06/2025` (es) and `2025-06-02` (en).
    pub fn label(&self, lang: Lang) -> String {
        date_label(self.date, lang)
    }
}

fn zoned(unix: i64, tz: &TimeZone) -> Option<Zoned> {
    Some(Timestamp::from_second(unix).ok()?.to_zoned(tz.clone()))
}

fn date_label(date: Date, lang: Lang) -> String {
    match lang {
        Lang::Es => format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year()),
        Lang::En => date.to_string(),
    }
}

/// `14:05` in local time; `—` for an instant out of range.
pub(crate) fn time(unix: i64, tz: &TimeZone) -> String {
    zoned(unix, tz)
        .map(|z| format!("{:02}:{:02}", z.hour(), z.minute()))
        .unwrap_or_else(|| "—".to_owned())
}

/// `02/06/2025 14:05` (es) or `2025-06-02 14:05` (en) in local time.
pub(crate) fn date_time(unix: i64, tz: &TimeZone, lang: Lang) -> String {
    zoned(unix, tz)
        .map(|z| {
            format!(
                "{} {:02}:{:02}",
                date_label(z.date(), lang),
                z.hour(),
                z.minute()
            )
        })
        .unwrap_or_else(|| "—".to_owned())
}

/// `2025-06-02T14:05:09+02:00`: the local time for files.
pub(crate) fn rfc3339(unix: i64, tz: &TimeZone) -> String {
    zoned(unix, tz)
        .map(|z| z.timestamp().display_with_offset(z.offset()).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> TimeZone {
        TimeZone::get("Europe/Madrid").unwrap()
    }

    #[test]
    fn a_day_is_local() {
        let day = Day::parse("2025-06-02", &madrid()).unwrap();
        // 2025-06-02T00:00+02:00
        assert_eq!(day.start, 1_748_815_200);
        assert_eq!(day.end - day.start, 86_400);
        assert_eq!(day.hours(&madrid()).len(), 24);
        assert_eq!(day.hours(&madrid())[9].0, 9);
        assert_eq!(Day::containing(day.start + 100, &madrid()).unwrap(), day);
        assert_eq!(
            Day::containing(day.start - 1, &madrid()).unwrap(),
            day.previous(&madrid()).unwrap()
        );
        assert_eq!(day.next(&madrid()).unwrap().start, day.end);
        assert_eq!(day.label(Lang::Es), "02/06/2025");
        assert_eq!(day.label(Lang::En), "2025-06-02");
        assert_eq!(time(day.start + 3600 * 14 + 300, &madrid()), "14:05");
        assert_eq!(
            rfc3339(day.start + 3600 * 14 + 309, &madrid()),
            "2025-06-02T14:05:09+02:00"
        );
    }

    #[test]
    fn the_days_the_clocks_change_have_23_and_25_hours() {
        let spring = Day::parse("2025-03-30", &madrid()).unwrap();
        let hours = spring.hours(&madrid());
        assert_eq!(hours.len(), 23);
        assert_eq!(
            hours.iter().map(|h| h.0).collect::<Vec<_>>()[..4],
            [0, 1, 3, 4]
        );
        let autumn = Day::parse("2025-10-26", &madrid()).unwrap();
        let hours = autumn.hours(&madrid());
        assert_eq!(hours.len(), 25);
        assert_eq!(
            hours.iter().map(|h| h.0).collect::<Vec<_>>()[..4],
            [0, 1, 2, 2]
        );
    }

    #[test]
    fn nonsense_is_no_day() {
        assert!(Day::parse("2025-02-30", &madrid()).is_none());
        assert!(Day::parse("'; DROP TABLE", &madrid()).is_none());
        assert_eq!(time(i64::MAX, &madrid()), "—");
    }
}
