//! What of a free text may be shown to the public. Residents and staff type phone numbers,
//! ID numbers, names and room numbers into descriptions and notes ("我是王小芳，电话138…",
//! "3号楼2单元501室"); whatever Linli publishes (Open311, the tracking page) passes through
//! here first. The rules are deliberately blunt: a public text loses a little sense before
//! it gives a home away. Staff can still word a request's public text by hand, and that text
//! passes through the same rules.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// A run of seven or more digits, single spaces or dashes between them allowed: mobile and
/// landline numbers, ID numbers (with a final X), bank cards, QQ numbers. Full-width digits
/// count too. Shorter numbers (building numbers, ages, amounts) stay.
static LONG_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9０-９](?:[ \-－—]?[0-9０-９]){5,}(?:[ \-－—]?[0-9０-９Xx])").expect("valid"));

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").expect("valid"));

/// A unit, room or household inside a building, or a floor: "2单元", "501室", "301户", "5层",
/// "三单元". Households and rooms only in digits: "一户居民" is a family, not a door.
static ROOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[0-9０-９]+[A-Za-z]?\s*(单元|室|号房|户|楼层|层)",
        r"|[一二三四五六七八九十两]+\s*(单元|楼层|层)",
    ))
    .expect("valid")
});

/// A floor written after the building or unit: "3号楼5楼" is a floor, not a second building.
static FLOOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(单元|号楼|栋|幢|座)\s*(?:[0-9０-９]+|[一二三四五六七八九十]+)\s*楼").expect("valid")
});

/// Building-unit-room written with dashes: "3-2-501", "3－2－501".
static DASHED_ROOM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([0-9０-９]+)\s*[-－]\s*[0-9０-９]+(?:\s*[-－]\s*[0-9０-９]+)?").expect("valid"));

/// Someone introducing themselves or a contact: "我是王小芳，", "联系人：李明 ".
static SELF_NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(我是|我叫|本人|姓名[:：]?|联系人[:：]?|户主[:：]?|报修人[:：]?)\s*(\p{Han}{2,4})",
        r"([，,。.!！?？\s、；;:：)）]|$|电话|手机|联系|住在?|家住|的)",
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

/// A free text as the public may read it: long numbers and e-mail addresses starred out,
/// rooms, units and floors hidden, self-introduced names and the `names` given (the reporter's,
/// a linked resident's) cut to their first character.
pub fn text(s: &str, names: &[&str]) -> String {
    let mut out = LONG_NUMBER.replace_all(s, |c: &Captures| stars(&c[0])).into_owned();
    out = EMAIL.replace_all(&out, |c: &Captures| stars(&c[0])).into_owned();
    out = DASHED_ROOM.replace_all(&out, |c: &Captures| format!("{}-*", &c[1])).into_owned();
    out = ROOM
        .replace_all(&out, |c: &Captures| format!("*{}", c.get(1).or(c.get(2)).map_or("", |m| m.as_str())))
        .into_owned();
    out = FLOOR.replace_all(&out, "$1*楼").into_owned();
    out = SELF_NAMED.replace_all(&out, |c: &Captures| format!("{}{}{}", &c[1], mask_name(&c[2]), &c[3])).into_owned();
    for name in names.iter().map(|n| n.trim()).filter(|n| n.chars().count() >= 2) {
        out = out.replace(name, &mask_name(name));
    }
    out
}

/// An address as the public may read it: up to the building. "民和社区3号楼1单元201室" →
/// "民和社区3号楼"; "御河九号小区3-2-501" → "御河九号小区3号楼"; then the rules of [`text`].
pub fn address(s: &str) -> String {
    let s = s.trim();
    let mut cut = s.len();
    let mut building_from_dashes = None;
    if let Some(m) = ROOM.find(s) {
        cut = m.start();
    }
    if let Some(c) = FLOOR.captures(s) {
        // The building word stays: "3号楼5楼" → "3号楼".
        cut = cut.min(c.get(1).expect("the building word").end());
    }
    if let Some(c) = DASHED_ROOM.captures(s) {
        let m = c.get(0).expect("whole match");
        if m.start() < cut {
            cut = m.start();
            building_from_dashes = Some(format!("{}号楼", &c[1]));
        }
    }
    let mut out = s[..cut].trim_end_matches(|c: char| c.is_whitespace() || "，,、-－#".contains(c)).to_string();
    if let Some(b) = building_from_dashes {
        out.push_str(&b);
    }
    text(&out, &[])
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
        assert_eq!(text("座机0352-5123456", &[]), "座机************");
        assert_eq!(text("身份证14020219800101123X", &[]), "身份证******************");
        assert_eq!(text("全角１３８１２３４１２３４", &[]), "全角***********");
        assert_eq!(text("邮箱 wang@example.com", &[]), "邮箱 ****************");
    }

    #[test]
    fn short_numbers_stay() {
        assert_eq!(text("80岁独居老人，3号楼暖气不热，已3天", &[]), "80岁独居老人，3号楼暖气不热，已3天");
        assert_eq!(text("井盖丢了2个，12345热线", &[]), "井盖丢了2个，12345热线");
    }

    #[test]
    fn rooms_units_and_floors_are_hidden() {
        assert_eq!(text("3号楼2单元501室漏水", &[]), "3号楼*单元*室漏水");
        assert_eq!(text("住在三单元五层", &[]), "住在*单元*层");
        assert_eq!(text("一户居民家中暖气不热，共3户受影响", &[]), "一户居民家中暖气不热，共*户受影响");
        assert_eq!(text("3号楼5楼楼道灯坏了", &[]), "3号楼*楼楼道灯坏了");
        assert_eq!(text("御河九号小区3-2-501", &[]), "御河九号小区3-*");
    }

    #[test]
    fn names_are_cut_to_their_first_character() {
        assert_eq!(text("联系人：李明 电话见上", &[]), "联系人：李* 电话见上");
        assert_eq!(text("张建国反映楼道堆物，张建国说很急", &["张建国"]), "张**反映楼道堆物，张**说很急");
        assert_eq!(text("我是本小区居民，楼下有积水", &[]), "我是本小区居民，楼下有积水");
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
    }

    #[test]
    fn coordinates_are_rounded_to_the_building() {
        assert_eq!(coordinate(40.091_234_5), 40.0912);
        assert_eq!(coordinate(113.298_16), 113.2982);
    }

    proptest! {
        /// Whatever the text, no run of seven digits survives, and the text never grows by
        /// more than the building words an address may gain.
        #[test]
        fn no_long_number_survives(prefix in "\\PC{0,20}", digits in "[0-9]{7,18}", suffix in "\\PC{0,20}") {
            let s = format!("{prefix}{digits}{suffix}");
            let out = text(&s, &[]);
            prop_assert!(!LONG_NUMBER.is_match(&out), "{s:?} → {out:?}");
            let out = address(&s);
            prop_assert!(!LONG_NUMBER.is_match(&out), "{s:?} → {out:?}");
        }

        #[test]
        fn any_text_is_handled(s in "\\PC{0,200}") {
            let _ = text(&s, &["王小芳"]);
            let _ = address(&s);
        }
    }
}
