//! The working calendar behind the SLA clocks of resident requests (接诉即办): which days are
//! working days in mainland China, and deadlines and elapsed time counted in office time.
//!
//! Pure: no I/O, no database, no clock. Callers pass instants in and get instants out.
//!
//! # Rules
//!
//! - **Working days.** Monday to Friday are working days unless the yearly table lists them as a
//!   public holiday; Saturday and Sunday are days off unless the table lists them as a make-up
//!   working day (调休上班). The table is the State Council's yearly notice, shipped as
//!   `holidays.toml` next to this file ([`Calendar::shipped`]); days past its last entry follow
//!   the plain week ([`Calendar::last_listed`] tells when it needs the next year's notice).
//! - **Time zone.** Every input and output is a `DateTime<Utc>`; all clock arithmetic happens in
//!   `Asia/Shanghai` local time, where office hours and dates are defined.
//! - **Office hours** are one span per working day, 09:00–18:00 by default ([`OfficeHours`]).
//! - **Working hours** ([`Calendar::add_working_hours`]) count only office time on working days.
//! - **Working days** ([`Calendar::add_working_days`]) do not count the day of intake: a request
//!   taken in on any day, at any hour, with N working days is due at closing time of the Nth
//!   working day after that day.
//! - **Bounded.** No computation looks at more than [`HORIZON_DAYS`] calendar days (about three
//!   years), so hostile or mistaken input (`u32::MAX` hours, a table full of holidays, office
//!   hours that never open) cannot hang a request handler. What happens at the horizon is stated
//!   on each function. Instants at the very ends of chrono's range, where the local time cannot
//!   be represented, are handled without panicking (see each function).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

/// The shipped table of holidays and make-up working days.
const SHIPPED: &str = include_str!("holidays.toml");

/// The longest range the table accepts, in days (inclusive). The longest official break is
/// nine days; anything much longer is a typo in a year or month.
pub const MAX_RANGE_DAYS: i64 = 31;

/// The most calendar days any one computation looks at, counted from the local day of its
/// starting instant: three years and a few days. A computation that would need more stops
/// there (see each function for what it then returns).
pub const HORIZON_DAYS: u32 = 1100;

/// What an entry of the yearly table makes of its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayKind {
    /// A public holiday: a day off, even on a weekday.
    Holiday,
    /// A make-up working day (调休上班): a working day, always on a Saturday or Sunday.
    Workday,
}

/// One `[[range]]` of the table: `kind` applies to every day from `start` to `end`, inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRange {
    /// What the notice calls it (元旦, 春节调休上班, …); shown to people, never interpreted.
    pub name: String,
    pub kind: DayKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// Why [`validate_ranges`] refused the table. `index` (and `other`, for an overlap, with
/// `index < other`) are positions in the slice given, i.e. the order of `[[range]]` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeProblem {
    pub index: usize,
    pub other: Option<usize>,
    /// Stable code: `holiday.range_reversed`, `holiday.range_too_long`, `holiday.range_overlap`
    /// or `holiday.workday_not_weekend`.
    pub code: &'static str,
    /// A human-readable explanation for logs and the `check` output (English, not translated).
    pub detail: String,
}

impl fmt::Display for RangeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// Why a holiday table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("holiday table is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("holiday table refused: {}", list(.0))]
    Invalid(Vec<RangeProblem>),
}

fn list(problems: &[RangeProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Checks a table: every range runs forwards and is at most [`MAX_RANGE_DAYS`] long, no two
/// ranges share a day (whatever their kinds — a day is either off or on, and the table must
/// say which unambiguously), and every make-up working day is a Saturday or Sunday.
///
/// Returns every problem found, sorted by `index`, then `other`, then `code`. A reversed range
/// is not checked further; a too-long range is not checked for weekdays but is for overlaps.
pub fn validate_ranges(ranges: &[HolidayRange]) -> Result<(), Vec<RangeProblem>> {
    let mut problems = Vec::new();
    for (index, r) in ranges.iter().enumerate() {
        if r.end < r.start {
            problems.push(RangeProblem {
                index,
                other: None,
                code: "holiday.range_reversed",
                detail: format!("range {index} ({}) ends {} before it starts {}", r.name, r.end, r.start),
            });
            continue;
        }
        let len = (r.end - r.start).num_days() + 1;
        if len > MAX_RANGE_DAYS {
            problems.push(RangeProblem {
                index,
                other: None,
                code: "holiday.range_too_long",
                detail: format!(
                    "range {index} ({}) from {} to {} is {len} days, more than {MAX_RANGE_DAYS}",
                    r.name, r.start, r.end
                ),
            });
            continue;
        }
        if r.kind == DayKind::Workday
            && let Some(day) = r.start.iter_days().take_while(|d| *d <= r.end).find(|d| !is_weekend(*d))
        {
            problems.push(RangeProblem {
                index,
                other: None,
                code: "holiday.workday_not_weekend",
                detail: format!(
                    "range {index} ({}) makes {day} a make-up working day, but it is a {:?}",
                    r.name,
                    day.weekday()
                ),
            });
        }
    }

    // Every overlapping pair: sort by start, then each range meets the ones after it that
    // start on or before its end.
    let mut order: Vec<usize> = (0..ranges.len()).filter(|&i| ranges[i].start <= ranges[i].end).collect();
    order.sort_by_key(|&i| (ranges[i].start, i));
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if ranges[j].start > ranges[i].end {
                break;
            }
            let (a, b) = (i.min(j), i.max(j));
            problems.push(RangeProblem {
                index: a,
                other: Some(b),
                code: "holiday.range_overlap",
                detail: format!(
                    "range {a} ({}, {} to {}) overlaps range {b} ({}, {} to {})",
                    ranges[a].name, ranges[a].start, ranges[a].end, ranges[b].name, ranges[b].start, ranges[b].end
                ),
            });
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort_by(|x, y| (x.index, x.other, x.code).cmp(&(y.index, y.other, y.code)));
        Err(problems)
    }
}

/// The daily office hours, in Shanghai local time: one span, `start` to `end`.
///
/// One span and no lunch break, deliberately: stations keep different lunch hours and move them
/// with the summer and winter schedules (夏令作息), the hotline counts an office day as a whole,
/// and a deadline like "10:00 Monday" must be one a resident can be told and a worker can check
/// by hand. A span with `start >= end` has no office time at all (see the functions that take
/// it); [`OfficeHours::new`] refuses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

const NINE: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time");
const EIGHTEEN: NaiveTime = NaiveTime::from_hms_opt(18, 0, 0).expect("18:00 is a time");

impl Default for OfficeHours {
    /// 09:00–18:00.
    fn default() -> Self {
        OfficeHours { start: NINE, end: EIGHTEEN }
    }
}

impl OfficeHours {
    /// Office hours from `start` to `end`; `None` unless `start < end`.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<OfficeHours> {
        (start < end).then_some(OfficeHours { start, end })
    }

    fn is_open(self) -> bool {
        self.start < self.end
    }
}

/// Shanghai local time of an instant; `None` only within hours of the end of chrono's range.
fn to_local(t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    utc.checked_add_offset(Shanghai.offset_from_utc_datetime(&utc).fix())
}

/// The instant of a Shanghai local time. A time that occurs twice (the end of summer time,
/// last in 1991) is taken at its first occurrence; one that never occurred (the start of
/// summer time) is read as UTC+8. `None` only at the ends of chrono's range.
fn to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match Shanghai.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => local.checked_sub_offset(FixedOffset::east_opt(8 * 3600)?).map(|u| u.and_utc()),
    }
}

/// The working calendar: the plain week, corrected by a validated table of holidays and make-up
/// working days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, DayKind>,
}

/// Parses (does not validate) a table in the format of `holidays.toml`.
fn parse_ranges(text: &str) -> Result<Vec<HolidayRange>, toml::de::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        #[serde(default)]
        range: Vec<HolidayRange>,
    }
    Ok(toml::from_str::<Table>(text)?.range)
}

static SHIPPED_RANGES: LazyLock<Vec<HolidayRange>> = LazyLock::new(|| {
    let checked = parse_ranges(SHIPPED)
        .map_err(CalendarError::from)
        .and_then(|ranges| validate_ranges(&ranges).map(|()| ranges).map_err(CalendarError::Invalid));
    match checked {
        Ok(ranges) => ranges,
        Err(e) => panic!("the shipped src/requests/holidays.toml is broken: {e}"),
    }
});

static SHIPPED_CALENDAR: LazyLock<Calendar> = LazyLock::new(|| Calendar::new(&SHIPPED_RANGES));

impl Calendar {
    /// A calendar from `ranges`, as given: this does not validate, so that a calendar can
    /// always be built from stored rows. Check a table with [`validate_ranges`] before storing
    /// it. Here, a range that runs backwards or is longer than [`MAX_RANGE_DAYS`] is skipped
    /// (which also bounds the work), and where ranges overlap the later one in `ranges` wins.
    pub fn new(ranges: &[HolidayRange]) -> Calendar {
        let mut days = BTreeMap::new();
        for r in ranges {
            if r.end < r.start || (r.end - r.start).num_days() >= MAX_RANGE_DAYS {
                continue;
            }
            for day in r.start.iter_days().take_while(|d| *d <= r.end) {
                days.insert(day, r.kind);
            }
        }
        Calendar { days }
    }

    /// A calendar from a table in the format of `holidays.toml`: `[[range]]` entries with
    /// `name`, `kind = "holiday" | "workday"`, and `start`, `end` as `"YYYY-MM-DD"`. Unlike
    /// [`Calendar::new`], refuses a table that [`validate_ranges`] refuses.
    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        let ranges = parse_ranges(text)?;
        validate_ranges(&ranges).map_err(CalendarError::Invalid)?;
        Ok(Calendar::new(&ranges))
    }

    /// The ranges of the shipped `holidays.toml`, in file order (to seed a stored table).
    ///
    /// Does not panic, like [`Calendar::shipped`].
    pub fn shipped_ranges() -> Vec<HolidayRange> {
        SHIPPED_RANGES.clone()
    }

    /// The calendar of the shipped `holidays.toml`, parsed once per process.
    ///
    /// Does not panic: the embedded table is fixed at compile time and the unit test
    /// `shipped_table_validates` loads it, so a broken edit fails `cargo test`, never a server.
    pub fn shipped() -> &'static Calendar {
        &SHIPPED_CALENDAR
    }

    /// The table's entry for `date`, if it has one.
    pub fn day_kind(&self, date: NaiveDate) -> Option<DayKind> {
        self.days.get(&date).copied()
    }

    /// The last date the table says anything about; after it, only the plain week counts.
    pub fn last_listed(&self) -> Option<NaiveDate> {
        self.days.keys().next_back().copied()
    }

    /// Monday to Friday unless a public holiday; Saturday and Sunday only as make-up days.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.day_kind(date) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !is_weekend(date),
        }
    }

    /// Office spans (local open, local close) of the working days from `first` on, within the
    /// horizon; nothing when the office never opens.
    fn office_spans(
        &self,
        first: NaiveDate,
        office: OfficeHours,
    ) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        first
            .iter_days()
            .take(if office.is_open() { HORIZON_DAYS as usize } else { 0 })
            .filter(|d| self.is_working_day(*d))
            .map(move |d| (d.and_time(office.start), d.and_time(office.end)))
    }

    /// The deadline `hours` of office time after `from`, counting only office hours on working
    /// days. Time before opening, after closing and on days off does not count, so a request
    /// that arrives at night starts counting at the next opening, and one that arrives at 17:00
    /// on a Friday with 2 hours is due at 10:00 on the next working day. A deadline that falls
    /// exactly on closing time is that closing time, not the next opening. `hours = 0` gives
    /// `from` itself.
    ///
    /// Never earlier than `from`, and never later for fewer hours. If the hours do not fit in
    /// the [`HORIZON_DAYS`] days from `from`'s local day (thousands of hours, or office hours
    /// that never open), the result is the closing time of the last working day inside the
    /// horizon (or `from` if there is none): a deadline that far away is a data error, and a
    /// bounded answer beats a hung request.
    pub fn add_working_hours(&self, from: DateTime<Utc>, hours: u32, office: OfficeHours) -> DateTime<Utc> {
        if hours == 0 {
            return from;
        }
        let Some(start) = to_local(from) else {
            return from;
        };
        let mut remaining = TimeDelta::hours(i64::from(hours));
        let mut last_close = None;
        for (open, close) in self.office_spans(start.date(), office) {
            let open = open.max(start);
            if open >= close {
                continue;
            }
            let available = close - open;
            if remaining <= available {
                let due = open.checked_add_signed(remaining).unwrap_or(close);
                return to_utc(due).map_or(from, |t| t.max(from));
            }
            remaining -= available;
            last_close = Some(close);
        }
        last_close.and_then(to_utc).map_or(from, |t| t.max(from))
    }

    /// The deadline `days` working days after `from`: closing time ([`OfficeHours::end`]) of the
    /// `days`-th working day after `from`'s local day.
    ///
    /// The day of intake never counts, whatever the hour and whether or not it is a working
    /// day — this is how the 12345 hotline counts 工作日: a request taken in on Friday
    /// 2026-09-18 with 3 working days is due at 18:00 on Tuesday 2026-09-22 (Sunday 09-20 is a
    /// make-up working day). `days = 0` means "within the day": closing time of `from`'s local
    /// day if it is a working day — even if `from` is after closing, when the request is due
    /// at once (the result is then earlier than `from`) — otherwise of the next working day.
    ///
    /// So on a day off, 0 and 1 give the same deadline (closing time of the next working day);
    /// otherwise more days give a strictly later deadline, as long as it lies within
    /// [`HORIZON_DAYS`] days of `from`'s local day. Beyond that the result is closing time on
    /// the last day of the horizon.
    pub fn add_working_days(&self, from: DateTime<Utc>, days: u32, office: OfficeHours) -> DateTime<Utc> {
        let Some(start) = to_local(from) else {
            return from;
        };
        let today = start.date();
        let horizon = HORIZON_DAYS as usize;
        let mut working = today.iter_days().take(horizon).filter(|d| self.is_working_day(*d));
        let found = if days == 0 { working.next() } else { working.filter(|d| *d > today).nth(days as usize - 1) };
        let day = found.or_else(|| today.checked_add_days(Days::new(u64::from(HORIZON_DAYS) - 1))).unwrap_or(today);
        to_utc(day.and_time(office.end)).unwrap_or(from)
    }

    /// Office minutes on working days between `a` and `b` (whole minutes, rounded down); 0 if
    /// `b <= a`. For handling times and "due soon": `working_minutes_between(from,
    /// add_working_hours(from, h, office), office) == 60 * h` within the horizon.
    ///
    /// Counts at most the [`HORIZON_DAYS`] days from `a`'s local day; office time after that is
    /// not counted.
    pub fn working_minutes_between(&self, a: DateTime<Utc>, b: DateTime<Utc>, office: OfficeHours) -> i64 {
        if b <= a {
            return 0;
        }
        let Some(la) = to_local(a) else {
            return 0;
        };
        let lb = to_local(b).unwrap_or(NaiveDateTime::MAX);
        let mut total = TimeDelta::zero();
        for (open, close) in self.office_spans(la.date(), office) {
            if open >= lb {
                break;
            }
            let (s, e) = (open.max(la), close.min(lb));
            if e > s {
                total += e - s;
            }
        }
        total.num_minutes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A Shanghai local time as a UTC instant.
    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().with_timezone(&Utc)
    }

    fn range(kind: DayKind, start: NaiveDate, end: NaiveDate) -> HolidayRange {
        HolidayRange { name: "test".to_owned(), kind, start, end }
    }

    fn codes(ranges: &[HolidayRange]) -> Vec<(usize, Option<usize>, &'static str)> {
        validate_ranges(ranges).unwrap_err().into_iter().map(|p| (p.index, p.other, p.code)).collect()
    }

    fn cal() -> &'static Calendar {
        Calendar::shipped()
    }

    const OFFICE: OfficeHours = OfficeHours { start: NINE, end: EIGHTEEN };

    #[test]
    fn shipped_table_validates() {
        let table: toml::Value = toml::from_str(SHIPPED).unwrap();
        let n = table["range"].as_array().unwrap().len();
        let calendar = Calendar::from_toml(SHIPPED).unwrap();
        assert!(n >= 30, "{n} ranges");
        assert_eq!(Calendar::shipped_ranges().len(), n);
        assert!(validate_ranges(&Calendar::shipped_ranges()).is_ok());
        assert_eq!(Calendar::new(&Calendar::shipped_ranges()), calendar);
        assert_eq!(Calendar::shipped(), &calendar);
        assert_eq!(calendar.last_listed(), Some(date(2027, 10, 3)));
        // Every make-up day of 2025 and 2026 is in, and on a weekend.
        let workdays: Vec<NaiveDate> =
            calendar.days.iter().filter(|(_, k)| **k == DayKind::Workday).map(|(d, _)| *d).collect();
        assert_eq!(
            workdays,
            [
                date(2025, 1, 26),
                date(2025, 2, 8),
                date(2025, 4, 27),
                date(2025, 9, 28),
                date(2025, 10, 11),
                date(2026, 1, 4),
                date(2026, 2, 14),
                date(2026, 2, 28),
                date(2026, 5, 9),
                date(2026, 9, 20),
                date(2026, 10, 10),
            ]
        );
        assert!(workdays.iter().all(|d| is_weekend(*d)));
        // Holiday days per year: 2025 and 2026 as published (weekends inside breaks included),
        // 2027 the statutory days only.
        let holidays_in = |y| calendar.days.iter().filter(|(d, k)| d.year() == y && **k == DayKind::Holiday).count();
        assert_eq!(holidays_in(2025), 1 + 8 + 3 + 5 + 3 + 8);
        assert_eq!(holidays_in(2026), 3 + 9 + 3 + 5 + 3 + 3 + 7);
        assert_eq!(holidays_in(2027), 1 + 4 + 1 + 2 + 1 + 1 + 3);
    }

    #[test]
    fn working_days_of_the_shipped_table() {
        let c = cal();
        assert!(c.is_working_day(date(2026, 2, 14)), "Saturday make-up day before 春节");
        assert!(!c.is_working_day(date(2026, 2, 16)), "Monday in 春节");
        assert!(c.is_working_day(date(2026, 10, 9)), "Friday after 国庆");
        assert!(c.is_working_day(date(2026, 10, 10)), "Saturday make-up day after 国庆");
        assert!(!c.is_working_day(date(2026, 10, 11)), "plain Sunday");
        assert!(!c.is_working_day(date(2026, 10, 1)));
        assert!(c.is_working_day(date(2026, 9, 20)), "Sunday make-up day");
        assert!(!c.is_working_day(date(2026, 9, 19)), "plain Saturday");
        assert!(!c.is_working_day(date(2025, 10, 8)));
        assert!(c.is_working_day(date(2025, 10, 9)));
        assert!(!c.is_working_day(date(2027, 2, 8)), "初三 2027 (Monday)");
        assert!(c.is_working_day(date(2027, 2, 9)), "2027 bridging days are not known yet");
        // Beyond the table: the plain week.
        assert!(c.is_working_day(date(2030, 1, 1)), "a Tuesday the table does not know");
        assert!(!c.is_working_day(date(2030, 1, 5)));
        assert_eq!(c.day_kind(date(2026, 2, 14)), Some(DayKind::Workday));
        assert_eq!(c.day_kind(date(2026, 2, 16)), Some(DayKind::Holiday));
        assert_eq!(c.day_kind(date(2026, 3, 16)), None);
    }

    #[test]
    fn working_hours() {
        let c = cal();
        // Friday 17:00, 2 hours: one today, one Monday morning.
        assert_eq!(c.add_working_hours(sh(2026, 3, 13, 17, 0), 2, OFFICE), sh(2026, 3, 16, 10, 0));
        // Inside one day.
        assert_eq!(c.add_working_hours(sh(2026, 3, 16, 10, 30), 3, OFFICE), sh(2026, 3, 16, 13, 30));
        // Exactly to closing time stays on the day.
        assert_eq!(c.add_working_hours(sh(2026, 3, 16, 9, 0), 9, OFFICE), sh(2026, 3, 16, 18, 0));
        assert_eq!(c.add_working_hours(sh(2026, 3, 16, 9, 0), 10, OFFICE), sh(2026, 3, 17, 10, 0));
        // At night and early morning: counting starts at the next opening.
        assert_eq!(c.add_working_hours(sh(2026, 3, 16, 22, 45), 1, OFFICE), sh(2026, 3, 17, 10, 0));
        assert_eq!(c.add_working_hours(sh(2026, 3, 17, 6, 0), 1, OFFICE), sh(2026, 3, 17, 10, 0));
        // Saturday 2026-02-14 is a make-up day: counting starts there, then 春节 to 2-23.
        assert_eq!(c.add_working_hours(sh(2026, 2, 13, 17, 0), 2, OFFICE), sh(2026, 2, 14, 10, 0));
        assert_eq!(c.add_working_hours(sh(2026, 2, 14, 17, 0), 2, OFFICE), sh(2026, 2, 24, 10, 0));
        // Wednesday 09-30 16:00 with 4 hours: 2 today, then 国庆 until Thursday 10-08.
        assert_eq!(c.add_working_hours(sh(2026, 9, 30, 16, 0), 4, OFFICE), sh(2026, 10, 8, 11, 0));
        // The zone: 01:00 UTC is 09:00 in Shanghai.
        let from = Utc.with_ymd_and_hms(2026, 3, 16, 1, 0, 0).unwrap();
        assert_eq!(c.add_working_hours(from, 1, OFFICE), Utc.with_ymd_and_hms(2026, 3, 16, 2, 0, 0).unwrap());
        // Zero hours: now.
        let night = sh(2026, 3, 14, 23, 0);
        assert_eq!(c.add_working_hours(night, 0, OFFICE), night);
        // Other office hours.
        let short =
            OfficeHours::new(NaiveTime::from_hms_opt(8, 30, 0).unwrap(), NaiveTime::from_hms_opt(12, 0, 0).unwrap())
                .unwrap();
        assert_eq!(c.add_working_hours(sh(2026, 3, 16, 11, 0), 2, short), sh(2026, 3, 17, 9, 30));
    }

    #[test]
    fn working_days_count_from_the_day_after_intake() {
        let c = cal();
        // Friday 2026-09-18 17:00, 3 working days: Sunday 09-20 (make-up), Monday, Tuesday.
        assert_eq!(c.add_working_days(sh(2026, 9, 18, 17, 0), 3, OFFICE), sh(2026, 9, 22, 18, 0));
        // Same at 08:00 and at 23:00: the hour of intake does not matter.
        assert_eq!(c.add_working_days(sh(2026, 9, 18, 8, 0), 3, OFFICE), sh(2026, 9, 22, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 9, 18, 23, 59), 3, OFFICE), sh(2026, 9, 22, 18, 0));
        // An ordinary week: Monday + 5 = next Monday.
        assert_eq!(c.add_working_days(sh(2026, 3, 16, 10, 0), 5, OFFICE), sh(2026, 3, 23, 18, 0));
        // Intake on a day off counts from the next day all the same: Saturday + 1 = Monday.
        assert_eq!(c.add_working_days(sh(2026, 3, 14, 10, 0), 1, OFFICE), sh(2026, 3, 16, 18, 0));
        // Across 国庆: 09-30 + 1 = 10-08; 09-30 + 2 = 10-09; + 3 = Saturday 10-10 (make-up).
        assert_eq!(c.add_working_days(sh(2026, 9, 30, 10, 0), 1, OFFICE), sh(2026, 10, 8, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 9, 30, 10, 0), 2, OFFICE), sh(2026, 10, 9, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 9, 30, 10, 0), 3, OFFICE), sh(2026, 10, 10, 18, 0));
        // 15 working days across 春节 2026: Thursday 02-12 → 02-13, 02-14, 02-24..02-27, 02-28,
        // 03-02..03-06, 03-09..03-11.
        assert_eq!(c.add_working_days(sh(2026, 2, 12, 10, 0), 15, OFFICE), sh(2026, 3, 11, 18, 0));
        // Zero days: the end of today, or of the next working day.
        assert_eq!(c.add_working_days(sh(2026, 3, 16, 10, 0), 0, OFFICE), sh(2026, 3, 16, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 3, 16, 20, 0), 0, OFFICE), sh(2026, 3, 16, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 2, 16, 10, 0), 0, OFFICE), sh(2026, 2, 24, 18, 0));
        // On a day off, 0 and 1 day are the same deadline.
        assert_eq!(c.add_working_days(sh(2026, 3, 14, 0, 0), 0, OFFICE), sh(2026, 3, 16, 18, 0));
        assert_eq!(c.add_working_days(sh(2026, 3, 14, 0, 0), 1, OFFICE), sh(2026, 3, 16, 18, 0));
        // The local day decides: 2026-09-18 20:00 UTC is already Saturday 04:00 in Shanghai.
        let late = Utc.with_ymd_and_hms(2026, 9, 18, 20, 0, 0).unwrap();
        assert_eq!(c.add_working_days(late, 1, OFFICE), sh(2026, 9, 20, 18, 0));
    }

    #[test]
    fn minutes_between() {
        let c = cal();
        assert_eq!(c.working_minutes_between(sh(2026, 3, 13, 17, 0), sh(2026, 3, 16, 10, 0), OFFICE), 120);
        assert_eq!(c.working_minutes_between(sh(2026, 3, 16, 10, 0), sh(2026, 3, 13, 17, 0), OFFICE), 0);
        assert_eq!(c.working_minutes_between(sh(2026, 3, 16, 10, 0), sh(2026, 3, 16, 10, 0), OFFICE), 0);
        // Night to night: one full office day.
        assert_eq!(c.working_minutes_between(sh(2026, 3, 16, 20, 0), sh(2026, 3, 17, 23, 0), OFFICE), 540);
        // A whole week of 春节 2026 (02-15..02-21) has no office time; the make-up Saturday has.
        assert_eq!(c.working_minutes_between(sh(2026, 2, 15, 0, 0), sh(2026, 2, 22, 0, 0), OFFICE), 0);
        assert_eq!(c.working_minutes_between(sh(2026, 2, 14, 0, 0), sh(2026, 2, 15, 0, 0), OFFICE), 540);
        // Partial minutes round down.
        let a = sh(2026, 3, 16, 10, 0);
        assert_eq!(c.working_minutes_between(a, a + TimeDelta::seconds(119), OFFICE), 1);
        // A plain week: five days.
        assert_eq!(c.working_minutes_between(sh(2026, 3, 16, 0, 0), sh(2026, 3, 23, 0, 0), OFFICE), 5 * 540);
    }

    #[test]
    fn hostile_inputs_are_bounded() {
        let c = cal();
        let from = sh(2026, 3, 16, 10, 0);
        let far = c.add_working_hours(from, u32::MAX, OFFICE);
        assert!(far > from && far < from + TimeDelta::days(i64::from(HORIZON_DAYS) + 1));
        assert_eq!(far.with_timezone(&Shanghai).time(), EIGHTEEN);
        let far_days = c.add_working_days(from, u32::MAX, OFFICE);
        assert!(far_days > from && far_days < from + TimeDelta::days(i64::from(HORIZON_DAYS) + 1));
        assert!(c.working_minutes_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, OFFICE) > 0);

        // Office hours that never open: no office time anywhere, and no hang.
        let closed = OfficeHours { start: EIGHTEEN, end: NINE };
        assert_eq!(OfficeHours::new(EIGHTEEN, NINE), None);
        assert_eq!(OfficeHours::new(NINE, NINE), None);
        assert_eq!(c.add_working_hours(from, 5, closed), from);
        assert_eq!(c.working_minutes_between(from, from + TimeDelta::days(30), closed), 0);

        // A calendar that is all holidays: bounded as well.
        let start = date(2026, 1, 1);
        let ranges: Vec<HolidayRange> = (0..40)
            .map(|i| {
                let s = start + TimeDelta::days(31 * i);
                range(DayKind::Holiday, s, s + TimeDelta::days(30))
            })
            .collect();
        let off = Calendar::new(&ranges);
        let from = sh(2026, 1, 5, 10, 0);
        assert_eq!(off.add_working_hours(from, 1, OFFICE), from);
        assert_eq!(off.working_minutes_between(from, from + TimeDelta::days(300), OFFICE), 0);
        let d = off.add_working_days(from, 1, OFFICE);
        assert_eq!(d.with_timezone(&Shanghai).date_naive(), date(2026, 1, 5) + TimeDelta::days(1099));

        // The ends of chrono's range.
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for h in [0, 1, 1000, u32::MAX] {
                let due = c.add_working_hours(t, h, OFFICE);
                assert!(due >= t);
                let _ = c.add_working_days(t, h, OFFICE);
                let _ = c.working_minutes_between(t, due, OFFICE);
            }
        }
    }

    #[test]
    fn reversed_too_long_overlapping_and_weekday_workdays_are_refused() {
        let d = |m, day| date(2026, m, day);
        assert_eq!(codes(&[range(DayKind::Holiday, d(5, 5), d(5, 1))]), [(0, None, "holiday.range_reversed")]);
        assert!(validate_ranges(&[range(DayKind::Holiday, d(1, 1), d(1, 31))]).is_ok());
        assert_eq!(codes(&[range(DayKind::Holiday, d(1, 1), d(2, 1))]), [(0, None, "holiday.range_too_long")]);
        assert_eq!(codes(&[range(DayKind::Holiday, d(1, 1), date(2027, 1, 1))]), [(0, None, "holiday.range_too_long")]);
        // Any kinds, any order; every pair reported once with the lower index first.
        assert_eq!(
            codes(&[
                range(DayKind::Holiday, d(10, 1), d(10, 7)),
                range(DayKind::Holiday, d(5, 1), d(5, 5)),
                range(DayKind::Holiday, d(10, 7), d(10, 8)),
                range(DayKind::Workday, d(10, 3), d(10, 4)),
            ]),
            [(0, Some(2), "holiday.range_overlap"), (0, Some(3), "holiday.range_overlap")]
        );
        // The same day twice.
        assert_eq!(
            codes(&[range(DayKind::Workday, d(2, 14), d(2, 14)), range(DayKind::Workday, d(2, 14), d(2, 14))]),
            [(0, Some(1), "holiday.range_overlap")]
        );
        // Touching ranges do not overlap.
        assert!(
            validate_ranges(&[
                range(DayKind::Holiday, d(2, 15), d(2, 23)),
                range(DayKind::Holiday, d(2, 24), d(2, 24))
            ])
            .is_ok()
        );
        // Make-up days on weekends only: Friday 2026-10-09 is refused, the weekend 10-10..10-11 is
        // fine, and a range running into Monday is refused.
        assert_eq!(codes(&[range(DayKind::Workday, d(10, 9), d(10, 9))]), [(0, None, "holiday.workday_not_weekend")]);
        assert!(validate_ranges(&[range(DayKind::Workday, d(10, 10), d(10, 11))]).is_ok());
        assert_eq!(codes(&[range(DayKind::Workday, d(10, 10), d(10, 12))]), [(0, None, "holiday.workday_not_weekend")]);
        // A holiday on a weekend is fine (中秋 2026 runs Friday to Sunday).
        assert!(validate_ranges(&[range(DayKind::Holiday, d(9, 25), d(9, 27))]).is_ok());
        // Several problems at once, sorted.
        let problems = validate_ranges(&[
            range(DayKind::Workday, d(3, 2), d(3, 2)),
            range(DayKind::Holiday, d(3, 9), d(3, 1)),
            range(DayKind::Holiday, d(3, 2), d(3, 3)),
        ])
        .unwrap_err();
        assert_eq!(
            problems.iter().map(|p| (p.index, p.other, p.code)).collect::<Vec<_>>(),
            [
                (0, None, "holiday.workday_not_weekend"),
                (0, Some(2), "holiday.range_overlap"),
                (1, None, "holiday.range_reversed"),
            ]
        );
        assert!(problems[0].to_string().starts_with("holiday.workday_not_weekend: range 0 (test) makes 2026-03-02"));
        // Calendar::new takes what it is given: reversed and too-long ranges are skipped, and
        // of overlapping ranges the later one wins.
        let lenient = Calendar::new(&[
            range(DayKind::Holiday, d(5, 5), d(5, 1)),
            range(DayKind::Holiday, d(3, 1), d(4, 30)),
            range(DayKind::Holiday, d(6, 1), d(6, 7)),
            range(DayKind::Workday, d(6, 6), d(6, 6)),
        ]);
        assert!(lenient.is_working_day(d(5, 4)) && lenient.is_working_day(d(3, 16)));
        assert!(!lenient.is_working_day(d(6, 5)));
        assert!(lenient.is_working_day(d(6, 6)), "the later make-up day wins");
        assert!(!lenient.is_working_day(d(6, 7)));
    }

    #[test]
    fn toml_tables() {
        let ok = Calendar::from_toml(
            "[[range]]\nname = \"x\"\nkind = \"workday\"\nstart = \"2026-02-14\"\nend = \"2026-02-14\"\n",
        )
        .unwrap();
        assert!(ok.is_working_day(date(2026, 2, 14)));
        assert_eq!(Calendar::from_toml("").unwrap(), Calendar::default());
        for bad in [
            // Unknown kind, bad date, unknown field, missing field.
            "[[range]]\nname = \"x\"\nkind = \"off\"\nstart = \"2026-02-14\"\nend = \"2026-02-14\"\n",
            "[[range]]\nname = \"x\"\nkind = \"holiday\"\nstart = \"2026-02-30\"\nend = \"2026-03-01\"\n",
            "[[range]]\nname = \"x\"\nkind = \"holiday\"\nstart = \"2026-02-14\"\nend = \"2026-02-14\"\nnote = 1\n",
            "[[range]]\nname = \"x\"\nkind = \"holiday\"\nstart = \"2026-02-14\"\n",
        ] {
            assert!(matches!(Calendar::from_toml(bad), Err(CalendarError::Parse(_))), "{bad}");
        }
        let invalid = "[[range]]\nname = \"x\"\nkind = \"workday\"\nstart = \"2026-02-13\"\nend = \"2026-02-13\"\n";
        match Calendar::from_toml(invalid) {
            Err(CalendarError::Invalid(p)) => assert_eq!(p[0].code, "holiday.workday_not_weekend"),
            other => panic!("{other:?}"),
        }
    }

    /// Instants between 2000 and 2040 (before, inside and after the table), to the second.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (946_684_800i64..2_208_988_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    /// An instant inside office hours of a working day, 2024–2028 (around the table).
    fn office_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..5 * 366, 0i64..9 * 3600 - 1).prop_filter_map("not a working day", |(day, secs)| {
            let d = date(2024, 1, 1) + TimeDelta::days(day);
            cal().is_working_day(d).then(|| to_utc(d.and_time(NINE) + TimeDelta::seconds(secs)).unwrap())
        })
    }

    proptest! {
        #[test]
        fn hours_never_go_back_and_grow_with_h(from in instant(), h1 in 0u32..3000, h2 in 0u32..3000) {
            let c = cal();
            let (lo, hi) = (h1.min(h2), h1.max(h2));
            let a = c.add_working_hours(from, lo, OFFICE);
            let b = c.add_working_hours(from, hi, OFFICE);
            prop_assert!(a >= from);
            prop_assert!(a <= b);
            if lo < hi {
                prop_assert!(a < b);
            }
        }

        #[test]
        fn hours_and_minutes_agree(from in office_instant(), h in 0u32..2000) {
            let c = cal();
            let due = c.add_working_hours(from, h, OFFICE);
            prop_assert_eq!(c.working_minutes_between(from, due, OFFICE), i64::from(h) * 60);
        }

        #[test]
        fn hours_and_minutes_agree_from_anywhere(from in instant(), h in 1u32..2000) {
            // Outside office hours too: the time before the next opening is not counted.
            let c = cal();
            let due = c.add_working_hours(from, h, OFFICE);
            prop_assert_eq!(c.working_minutes_between(from, due, OFFICE), i64::from(h) * 60);
            // And the deadline is inside office hours of a working day.
            let local = due.with_timezone(&Shanghai);
            prop_assert!(c.is_working_day(local.date_naive()));
            prop_assert!(local.time() > NINE && local.time() <= EIGHTEEN);
        }

        #[test]
        fn more_days_is_later(from in instant(), d in 0u32..500) {
            let c = cal();
            let a = c.add_working_days(from, d, OFFICE);
            let b = c.add_working_days(from, d + 1, OFFICE);
            // The one tie: on a day off, "within the day" already means the next working day.
            if d == 0 && !c.is_working_day(from.with_timezone(&Shanghai).date_naive()) {
                prop_assert_eq!(b, a);
            } else {
                prop_assert!(b > a);
            }
            let local = b.with_timezone(&Shanghai);
            prop_assert!(c.is_working_day(local.date_naive()));
            prop_assert_eq!(local.time(), EIGHTEEN);
            prop_assert!(local.date_naive() > from.with_timezone(&Shanghai).date_naive());
        }

        #[test]
        fn minutes_are_additive(a in instant(), x in 0i64..200 * 86_400, y in 0i64..200 * 86_400) {
            let c = cal();
            let b = a + TimeDelta::seconds(x);
            let e = b + TimeDelta::seconds(y);
            let ab = c.working_minutes_between(a, b, OFFICE);
            let be = c.working_minutes_between(b, e, OFFICE);
            let ae = c.working_minutes_between(a, e, OFFICE);
            // Whole minutes are rounded down separately, so the parts may lose up to one.
            prop_assert!(ae - ab - be >= 0 && ae - ab - be <= 1);
        }

        #[test]
        fn nothing_panics_anywhere(secs in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(), h in any::<u32>(), d in 0u32..2000) {
            let c = cal();
            let from = DateTime::from_timestamp(secs, 0).unwrap();
            let due = c.add_working_hours(from, h, OFFICE);
            prop_assert!(due >= from);
            let _ = c.add_working_days(from, d, OFFICE);
            let _ = c.working_minutes_between(from, due, OFFICE);
        }
    }
}
