//! Chinese resident ID numbers (GB 11643-1999) and mobile numbers: parsing at the edge,
//! derived facts, and the masked forms shown on screen.

use chrono::NaiveDate;

/// A valid 18-character resident ID number, upper-case `X` check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Not 18 characters of digits (last may be X).
    Format,
    /// The date of birth inside the number is not a real date, or lies in the future.
    BirthDate,
    /// The check character does not match.
    Checksum,
}

impl IdError {
    pub fn code(self) -> &'static str {
        match self {
            IdError::Format => "person.id_format",
            IdError::BirthDate => "person.id_birth_date",
            IdError::Checksum => "person.id_checksum",
        }
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character for the first 17 digits.
pub fn check_char(first17: &str) -> char {
    let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    CHECK[(sum % 11) as usize]
}

impl ResidentId {
    /// Accepts surrounding spaces, full-width digits and a lower-case `x`; `today` bounds the
    /// birth date.
    pub fn parse(raw: &str, today: NaiveDate) -> Result<ResidentId, IdError> {
        let s: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                'x' | 'ｘ' | 'Ｘ' => 'X',
                _ => c,
            })
            .collect();
        let ok_shape = s.len() == 18
            && s.chars().take(17).all(|c| c.is_ascii_digit())
            && s.chars().last().is_some_and(|c| c.is_ascii_digit() || c == 'X');
        if !ok_shape {
            return Err(IdError::Format);
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").map_err(|_| IdError::BirthDate)?;
        if birth > today || birth.year_ce().1 < 1900 {
            return Err(IdError::BirthDate);
        }
        if check_char(&s[..17]) != s.chars().last().unwrap_or(' ') {
            return Err(IdError::Checksum);
        }
        Ok(ResidentId(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked in parse")
    }

    /// The 17th digit: odd for men, even for women.
    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// `140202********123X`: the region code and the last four stay readable.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

use chrono::Datelike;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
    pub fn parse(s: &str) -> Option<Sex> {
        match s {
            "male" => Some(Sex::Male),
            "female" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// A mainland mobile number (11 digits starting with 1) or a landline with area code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Option<Phone> {
        let digits: String =
            raw.trim().trim_start_matches("+86").chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mobile = digits.len() == 11 && digits.starts_with('1');
        let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
        (mobile || landline).then_some(Phone(digits))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `138****1234`; landlines keep the area code and the last four.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}{}{}", &self.0[..3], "*".repeat(n - 7), &self.0[n - 4..])
    }
}

/// Whole years from `birth` to `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn known_numbers() {
        // The standard's own example.
        let id = ResidentId::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(ResidentId::parse(" 11010519491231002x ", today()).unwrap().as_str(), "11010519491231002X");
        assert_eq!(ResidentId::parse("11010519491231002Y", today()), Err(IdError::Format));
        assert_eq!(ResidentId::parse("110105194912310021", today()), Err(IdError::Checksum));
        assert_eq!(ResidentId::parse("1.10105E+17", today()), Err(IdError::Format));
        assert_eq!(ResidentId::parse("110105194902300020", today()), Err(IdError::BirthDate));
    }

    #[test]
    fn future_birth_dates_are_refused() {
        let first17 = "14020220991231001";
        let id = format!("{first17}{}", check_char(first17));
        assert_eq!(ResidentId::parse(&id, today()), Err(IdError::BirthDate));
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse("138 0013 1234").unwrap().masked(), "138****1234");
        assert_eq!(Phone::parse("+8613800131234").unwrap().as_str(), "13800131234");
        assert!(Phone::parse("0352-1234567").is_some());
        assert!(Phone::parse("12345").is_none());
        assert!(Phone::parse("1380013123a").is_none());
    }

    #[test]
    fn ages() {
        let b = NaiveDate::from_ymd_opt(1946, 11, 24).unwrap();
        assert_eq!(age_on(b, today()), 79);
        assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()), 80);
    }

    proptest! {
        /// Any 17 digits with a real past date and the computed check character parse; changing
        /// any one digit breaks the checksum (the weights make single-digit errors detectable).
        #[test]
        fn checksum_catches_every_single_digit_change(region in 110000u32..660000, days in 0i64..38000, seq in 0u32..1000, pos in 0usize..17, delta in 1u8..10) {
            let birth = NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + chrono::Duration::days(days);
            let first17 = format!("{region:06}{}{seq:03}", birth.format("%Y%m%d"));
            let id = format!("{first17}{}", check_char(&first17));
            let parsed = ResidentId::parse(&id, today()).unwrap();
            prop_assert_eq!(parsed.birth_date(), birth);
            let mut bytes = id.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(ResidentId::parse(&changed, today()).is_err());
        }
    }
}
