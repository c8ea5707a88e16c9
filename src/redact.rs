//! What of a free text may be shown to the public. Residents and staff type phone numbers,
//! ID numbers, names and room numbers into descriptions and notes ("我是王小芳，电话138…",
//! "3号楼2单元501室", "3栋502"); whatever Linli publishes (Open311, the tracking page) passes
//! through here first.
//!
//! Two strengths. [`text`] is for what people typed without the public in mind — a
//! resident's report, a unit's note: numbers, e-mails, rooms, floors, self-introduced and
//! known names all go, and the text loses a little sense before it gives a home away.
//! [`numbers`] is for wording staff wrote *for* the public ("1单元到4单元停水，预计12-15日恢复"):
//! only what is never meant to be published — phone, ID and card numbers, e-mail addresses —
//! is starred, and the rest is taken as written. [`address`] stops any address at the building.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// A run of seven or more digits, up to two spaces or dashes between them: mobile and
/// landline numbers, ID numbers (with a final X), bank cards, QQ numbers. Full-width digits
/// count too. Shorter numbers (buildings, ages, amounts, the 12345 hotline) stay; dates are
/// kept by [`star_numbers`].
static LONG_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9０-９](?:[ \t\-－—]{0,2}[0-9０-９]){5,}(?:[ \t\-－—]{0,2}[0-9０-９Xx])").expect("valid")
});

/// A phone number read out in Chinese numerals: 一三八一二三四一二三四.
static SPOKEN_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[零〇一二三四五六七八九幺]{7,}").expect("valid"));

/// A calendar date written with digits: 2026-12-05, 2026/12/5, 2026.12.05, 20261205.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:19|20)\d{2}(?:[-/.]\d{1,2}[-/.]\d{1,2}|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$").expect("valid")
});

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").expect("valid"));

/// A unit or room inside a building, or a floor: "2单元", "501室", "5层", "三单元".
static ROOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[0-9０-９]+[A-Za-z]?\s*(单元|室|号房|房间|楼层|层)",
        r"|[一二三四五六七八九十两]+\s*(单元|楼层|层)",
    ))
    .expect("valid")
});

/// A floor written after the building or unit: "3号楼5楼" is a floor, not a second building.
static FLOOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(单元|号楼|栋|幢|座)\s*(?:[0-9０-９]+|[一二三四五六七八九十]+)\s*楼").expect("valid")
});

/// A door number without its word: "3栋502", "2单元501暖气不热", "他家在402", "楼上602住户".
/// The number is a door when it follows a building or a word that places someone, and no
/// unit of measure follows it (`after`, checked by [`is_door`]).
static BARE_DOOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<lead>号楼|栋|幢|座|单元|楼上|楼下|对门|隔壁|家在|住在|门牌|在|住|是)",
        r"\s*(?P<door>[0-9０-９]{3,4})(?P<after>[^0-9０-９]|$)",
    ))
    .expect("valid")
});

/// What may follow a three- or four-digit number that is a quantity, a year or a time, not a door.
const MEASURES: &str = "年月日号元块角米平个人名位户次天周岁度路条公里分点时秒%％:：.-/吨斤件辆台";

fn is_door(after: &str) -> bool {
    after.chars().next().is_none_or(|c| !MEASURES.contains(c))
}

/// Building-unit-room written with dashes: "3-2-501", or building-room "3-502".
static DASHED_ROOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<b>[0-9０-９]+)\s*[-－]\s*[0-9０-９]+\s*[-－]\s*[0-9０-９]+",
        r"|(?P<b2>[0-9０-９]{1,2})\s*[-－]\s*[0-9０-９]{3,4}(?P<after>[^0-9０-９]|$)",
    ))
    .expect("valid")
});

/// A house in a courtyard or a row: "3排5号" is one family's door.
static ROW_HOUSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9０-９]+\s*排\s*[0-9０-９]+\s*号?").expect("valid"));

/// Someone introducing themselves or a contact: "我是王小芳，", "我叫王小芳家里…",
/// "联系人：李明 ", "我是王小芳13812341234".
static SELF_NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(我是|我叫|本人|姓名[:：]?|联系人[:：]?|户主[:：]?|报修人[:：]?)\s*(\p{Han}{2,3})",
        r"([，,。.!！?？\s、；;:：)）（(]|$|[0-9０-９*]|电话|手机|联系|家|住|的|反映|老人)",
    ))
    .expect("valid")
});

/// A name shown by its first character: 王小芳 → 王**.
fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

fn stars(s: &str) -> String {
    s.chars().map(|c| if c.is_whitespace() { c } else { '*' }).collect()
}

/// Phone, ID and card numbers and e-mail addresses starred; dates kept.
fn star_numbers(s: &str) -> String {
    let out = LONG_NUMBER.replace_all(s, |c: &Captures| {
        let m = &c[0];
        if DATE.is_match(m) { m.to_string() } else { stars(m) }
    });
    let out = SPOKEN_NUMBER.replace_all(&out, |c: &Captures| stars(&c[0]));
    EMAIL.replace_all(&out, |c: &Captures| stars(&c[0])).into_owned()
}

/// Wording staff wrote for the public: only phone, ID and card numbers and e-mail addresses
/// are starred; the rest stands as written.
pub fn numbers(s: &str) -> String {
    star_numbers(s)
}

/// A free text as the public may read it: names introduced in it and the `names` given (the
/// reporter's, a linked resident's) cut to their first character; long numbers and e-mail
/// addresses starred; rooms, units, floors and door numbers hidden.
pub fn text(s: &str, names: &[&str]) -> String {
    // Names first: "我是王小芳13812341234" still reads as a name before its number.
    let mut out =
        SELF_NAMED.replace_all(s, |c: &Captures| format!("{}{}{}", &c[1], mask_name(&c[2]), &c[3])).into_owned();
    for name in names.iter().map(|n| n.trim()).filter(|n| n.chars().count() >= 2) {
        out = out.replace(name, &mask_name(name));
    }
    out = star_numbers(&out);
    out = DASHED_ROOM
        .replace_all(&out, |c: &Captures| match (c.name("b"), c.name("b2")) {
            (Some(_), _) if DATE.is_match(&c[0]) => c[0].to_string(),
            (Some(b), _) => format!("{}-*", b.as_str()),
            (None, Some(b)) if is_door(c.name("after").map_or("", |a| a.as_str())) => {
                format!("{}-*{}", b.as_str(), c.name("after").map_or("", |a| a.as_str()))
            }
            _ => c[0].to_string(),
        })
        .into_owned();
    out = ROW_HOUSE.replace_all(&out, "*排*号").into_owned();
    out = ROOM
        .replace_all(&out, |c: &Captures| format!("*{}", c.get(1).or(c.get(2)).map_or("", |m| m.as_str())))
        .into_owned();
    out = FLOOR.replace_all(&out, "$1*楼").into_owned();
    BARE_DOOR
        .replace_all(&out, |c: &Captures| {
            let after = c.name("after").map_or("", |a| a.as_str());
            if is_door(after) { format!("{}*{after}", &c["lead"]) } else { c[0].to_string() }
        })
        .into_owned()
}

/// An address as the public may read it: up to the building. "民和社区3号楼1单元201室" →
/// "民和社区3号楼"; "御河九号小区3-2-501" → "御河九号小区3号楼"; "3栋502" → "3栋";
/// "新建北路58号院3排5号" → "新建北路58号院". A part repeated by the way addresses are put
/// together ("永宁社区 8号楼 永宁社区8号楼") is said once. Then the rules of [`text`].
pub fn address(s: &str) -> String {
    let s = s.trim();
    let mut cut = s.len();
    let mut building_from_dashes = None;
    if let Some(m) = ROOM.find(s) {
        cut = m.start();
    }
    if let Some(m) = ROW_HOUSE.find(s) {
        cut = cut.min(m.start());
    }
    if let Some(c) = FLOOR.captures(s) {
        // The building word stays: "3号楼5楼" → "3号楼".
        cut = cut.min(c.get(1).expect("the building word").end());
    }
    for c in BARE_DOOR.captures_iter(s) {
        if is_door(c.name("after").map_or("", |a| a.as_str())) {
            let lead = c.name("lead").expect("a lead");
            // A building word stays ("3栋502" → "3栋"); a placing word goes with the door.
            let keep = matches!(lead.as_str(), "号楼" | "栋" | "幢" | "座" | "单元");
            cut = cut.min(if keep { lead.end() } else { lead.start() });
            break;
        }
    }
    if let Some(c) = DASHED_ROOM.captures(s) {
        let m = c.get(0).expect("whole match");
        let building = c
            .name("b")
            .filter(|_| !DATE.is_match(m.as_str()))
            .or_else(|| c.name("b2").filter(|_| is_door(c.name("after").map_or("", |a| a.as_str()))));
        if let Some(b) = building
            && m.start() < cut
        {
            cut = m.start();
            building_from_dashes = Some(format!("{}号楼", b.as_str()));
        }
    }
    let mut out = s[..cut].trim_end_matches(|c: char| c.is_whitespace() || "，,、-－#".contains(c)).to_string();
    if let Some(b) = building_from_dashes {
        out.push_str(&b);
    }
    text(&said_once(&out), &[])
}

/// The space-separated parts of an address, without a part that another part contains.
fn said_once(address: &str) -> String {
    let parts: Vec<&str> = address.split_whitespace().collect();
    let kept: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            !parts.iter().enumerate().any(|(j, q)| j != *i && q.contains(*p) && (q.len() > p.len() || j < *i))
        })
        .map(|(_, p)| *p)
        .collect();
    kept.join(" ")
}

/// Coordinates as the public may read them: four decimals, about ten metres — the building,
/// not the window.
pub fn coordinate(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phone_numbers_and_ids_are_starred() {
        assert_eq!(text("我是王小芳，电话13812341234", &[]), "我是王**，电话***********");
        assert_eq!(text("电话 138 1234 1234 找我", &[]), "电话 *** **** **** 找我");
        assert_eq!(text("电话：138 1234  5678", &[]), "电话：*** ****  ****");
        assert_eq!(text("座机0352-5123456", &[]), "座机************");
        assert_eq!(text("身份证14020219800101123X", &[]), "身份证******************");
        assert_eq!(text("全角１３８１２３４１２３４", &[]), "全角***********");
        assert_eq!(text("邮箱 wang@example.com", &[]), "邮箱 ****************");
        assert_eq!(text("电话一三八一二三四一二三四", &[]), "电话***********");
    }

    #[test]
    fn short_numbers_and_dates_stay() {
        assert_eq!(text("80岁独居老人，3号楼暖气不热，已3天", &[]), "80岁独居老人，3号楼暖气不热，已3天");
        assert_eq!(text("井盖丢了2个，12345热线", &[]), "井盖丢了2个，12345热线");
        assert_eq!(text("已于2026-12-05完成维修", &[]), "已于2026-12-05完成维修");
        assert_eq!(text("预计12-15日恢复，16-18度，3-5号楼停电", &[]), "预计12-15日恢复，16-18度，3-5号楼停电");
        assert_eq!(text("共120户，2026年完成", &[]), "共120户，2026年完成");
    }

    #[test]
    fn rooms_units_floors_and_doors_are_hidden() {
        assert_eq!(text("3号楼2单元501室漏水", &[]), "3号楼*单元*室漏水");
        assert_eq!(text("住在三单元五层", &[]), "住在*单元*层");
        assert_eq!(text("3号楼5楼楼道灯坏了", &[]), "3号楼*楼楼道灯坏了");
        assert_eq!(text("御河九号小区3-2-501", &[]), "御河九号小区3-*");
        assert_eq!(text("3号楼2单元501暖气不热", &[]), "3号楼*单元*暖气不热");
        assert_eq!(text("5号楼1单元502房间漏水，楼上602住户不开门", &[]), "5号楼*单元*房间漏水，楼上*住户不开门");
        assert_eq!(text("刘建华不开门，他家在402", &[]), "刘建华不开门，他家在*");
        assert_eq!(text("3栋502，3-502", &[]), "3栋*，3-*");
        assert_eq!(text("新建北路58号院3排5号", &[]), "新建北路58号院*排*号");
        assert_eq!(text("一户居民家中暖气不热", &[]), "一户居民家中暖气不热");
    }

    #[test]
    fn names_are_cut_to_their_first_character() {
        assert_eq!(text("联系人：李明 电话见上", &[]), "联系人：李* 电话见上");
        assert_eq!(text("张建国反映楼道堆物，张建国说很急", &["张建国"]), "张**反映楼道堆物，张**说很急");
        assert_eq!(text("我是本小区居民，楼下有积水", &[]), "我是本小区居民，楼下有积水");
        assert_eq!(text("我叫王小芳家里暖气不热", &[]), "我叫王**家里暖气不热");
        assert_eq!(text("我是王小芳13812341234，暖气不热", &[]), "我是王*************，暖气不热");
    }

    #[test]
    fn staff_wording_keeps_all_but_phones_and_ids() {
        let s =
            "1单元到4单元全部停水，3层以上水压不足，共120户，预计12-15日恢复，9:00-17:00，请拨打12345或0352-5123456";
        assert_eq!(numbers(s), s.replace("0352-5123456", "************"));
        assert_eq!(numbers("已于2026-12-05完成维修"), "已于2026-12-05完成维修");
    }

    #[test]
    fn addresses_stop_at_the_building() {
        assert_eq!(address("民和社区3号楼1单元201室"), "民和社区3号楼");
        assert_eq!(address("振华南街…3号楼2单元501室"), "振华南街…3号楼");
        assert_eq!(address("御河九号小区3-2-501"), "御河九号小区3号楼");
        assert_eq!(address("宏安小区 2号楼 5楼"), "宏安小区 2号楼");
        assert_eq!(address("万城华府小区3号楼"), "万城华府小区3号楼");
        assert_eq!(address("魏都大道与文兴路口"), "魏都大道与文兴路口");
        assert_eq!(address("401室"), "");
        assert_eq!(address("御河九号小区3栋502"), "御河九号小区3栋");
        assert_eq!(address("恒安新区B区12号楼1002"), "恒安新区B区12号楼");
        assert_eq!(address("新建北路58号院3排5号"), "新建北路58号院");
        assert_eq!(address("御河九号社区 御河九号小区 3号楼501"), "御河九号社区 御河九号小区 3号楼");
        assert_eq!(address("永宁社区 8号楼 永宁社区8号楼3单元302"), "永宁社区8号楼");
        assert_eq!(address("小区3-502"), "小区3号楼");
    }

    #[test]
    fn coordinates_are_rounded_to_the_building() {
        assert_eq!(coordinate(40.091_234_5), 40.0912);
        assert_eq!(coordinate(113.298_16), 113.2982);
    }

    proptest! {
        /// Whatever the text, no run of seven digits survives, bar a date.
        #[test]
        fn no_long_number_survives(prefix in "\\PC{0,20}", digits in "[1-9][0-9]{6,17}", suffix in "\\PC{0,20}") {
            let s = format!("{prefix}{digits}{suffix}");
            for out in [text(&s, &[]), address(&s), numbers(&s)] {
                for m in LONG_NUMBER.find_iter(&out) {
                    prop_assert!(DATE.is_match(m.as_str()), "{s:?} → {out:?}");
                }
            }
        }

        #[test]
        fn any_text_is_handled(s in "\\PC{0,200}") {
            let _ = text(&s, &["王小芳"]);
            let _ = address(&s);
            let _ = numbers(&s);
        }
    }
}
