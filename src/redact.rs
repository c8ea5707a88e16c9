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

/// Invisible characters: control (bar the line break) and format characters such as the
/// zero-width space, which would split a number the rules below must see whole.
static INVISIBLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\p{Cc}\p{Cf}&&[^\n]]").expect("valid"));

/// A digit as people write one: ASCII (full-width ones are folded to it first), Chinese
/// numerals as a number is read out (一三八…), and the financial forms (壹叁捌…).
const DIGIT: &str = "[0-9零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖]";
/// What people put between the digits of a number: spaces, dashes of every kind, dots,
/// commas, slashes, underscores, a line break. Not a colon (times: 9:00-17:00).
const SEP: &str = "[ \\-‐‑‒–—―−.,，、/_·\n]";

/// A run of seven or more digits, up to three separators between each ("138 – 1234"): mobile and landline
/// numbers, ID numbers (with a final X), bank cards, QQ numbers, in any of the ways people
/// write them. Shorter numbers (buildings, ages, amounts, the 12345 hotline) stay; dates are
/// kept by [`star_numbers`].
static LONG_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("{DIGIT}(?:{SEP}{{0,3}}{DIGIT}){{5,}}(?:{SEP}{{0,3}}(?:{DIGIT}|[Xx]))")).expect("valid")
});

/// A calendar date written with digits: 2026-12-05, 2026/12/5, 2026.12.05, 20261205.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:19|20)\d{2}(?:[-/.]\d{1,2}[-/.]\d{1,2}|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$").expect("valid")
});

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").expect("valid"));

/// An account on a messaging service: 微信号 wangxf1980, QQ 12345.
static HANDLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(微信号?|vx|wx|QQ号?|Q号|抖音号?)([:： ]*)([A-Za-z0-9_\-]{5,})").expect("valid"));

/// A unit or room inside a building, or a floor: "2单元", "501室", "5层", "三单元", "五零一室".
static ROOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[0-9]+[A-Za-z]?\s*(单元|室|号房|房间|楼层|层)",
        r"|[一二三四五六七八九十两零〇]+\s*(单元|室|号房|楼层|层)",
    ))
    .expect("valid")
});

/// A floor written after the building or unit, or after where someone lives: "3号楼5楼",
/// "住5楼", and the household on it, "5楼东户".
static FLOOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(单元|号楼|栋|幢|座|住|住在|在)\s*(?:[0-9]+|[一二三四五六七八九十]+)\s*楼",
        r"(?:\s*[东西南北中左右]\s*户)?",
    ))
    .expect("valid")
});

/// A door number without its word, after a building ("3栋502", "3号楼501号", "2单元501",
/// "门牌号：502") or after a word that places someone ("他家在402", "楼上602住户"). `strong`
/// leads name a building or a door: whatever follows, the number is a door but for a year or
/// a measure; after a `weak` lead it is a door only if no unit of measure follows.
static BARE_DOOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:(?P<strong>号楼|栋|幢|座|单元|门牌号?|房号|房间号)|(?P<weak>楼上|楼下|对门|隔壁|家在|住在|在|住|是))",
        r"(?P<gap>[:： ]*)(?P<door>[0-9]{3,4})(?P<after>[^0-9]|$)",
    ))
    .expect("valid")
});

/// What may follow a three- or four-digit number that is a quantity, a year or a time, not a door.
const MEASURES: &str = "年月日号元块角米平个人名位户次天周岁度路条公里分点时秒%:.-/吨斤件辆台";
/// What may follow a number after a building word that still makes it no door.
const STRONG_MEASURES: &str = "年元米平%";

fn is_door(after: &str, strong: bool) -> bool {
    let measures = if strong { STRONG_MEASURES } else { MEASURES };
    after.chars().next().is_none_or(|c| !measures.contains(c))
}

/// Building-unit-room written with dashes: "3-2-501", or building-room "3-502".
static DASHED_ROOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<b>[0-9]+)\s*-\s*[0-9]+\s*-\s*[0-9]+",
        r"|(?P<b2>[0-9]{1,2})\s*-\s*[0-9]{3,4}(?P<after>[^0-9]|$)",
    ))
    .expect("valid")
});

/// A house in a courtyard or a row: "3排5号" is one family's door.
static ROW_HOUSE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+\s*排\s*[0-9]+\s*号?").expect("valid"));

/// Common Chinese surnames: a name is caught where it is introduced or titled, and only if it
/// starts with one, so that "我是本楼居民" or "高龄老人" stay as they are.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝郁郜";
const COMPOUND_SURNAMES: &str =
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|夏侯|令狐|宇文|长孙|司徒|独孤|南宫|端木|呼延";

/// Words before a name: someone introducing themselves or naming a contact or relative.
const NAME_INTRO: &str = "我是|我叫|叫|本人|姓名|联系人|户主|报修人|反映人|居民|家属|儿子|女儿|儿媳|女婿|丈夫|妻子|老伴|爱人|母亲|父亲|孙子|孙女|邻居|网格员|社工";
/// Words after a name that say it is a person: 李桂兰老人, 张大妈.
const NAME_TITLE: &str = "老人|大爷|大妈|大娘|阿姨|奶奶|爷爷|姥姥|姥爷|老太|老汉|师傅|女士|先生|同志|老师|大哥|大姐";
/// What a titled "surname + one or two characters" often is without being a name.
const NOT_NAMES: &[&str] = &[
    "高龄",
    "高",
    "独居",
    "老年",
    "空巢",
    "孤寡",
    "困难",
    "失能",
    "半失能",
    "年迈",
    "留守",
    "这位",
    "那位",
    "一位",
    "两位",
    "几位",
    "邻居",
    "楼上",
    "楼下",
];

static NAMED: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{COMPOUND_SURNAMES}|[{SURNAMES}])\\p{{Han}}{{1,2}}");
    Regex::new(&format!(
        "(?P<intro>{NAME_INTRO})(?P<gap>[:： ]*)(?P<name>{name})|(?P<titled>{name}?)(?P<title>{NAME_TITLE})"
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

/// The text the rules read, and the public gets: full-width digits, letters and the marks
/// of addresses and numbers (＠．－＿／) folded to ASCII, every kind of space one space,
/// invisible characters gone. Chinese punctuation stays as written.
fn normalised(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '＠' | '．' | '－' | '＿' | '／' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            '\n' => c,
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    INVISIBLE.replace_all(&folded, "").into_owned()
}

/// Phone, ID and card numbers, messaging handles and e-mail addresses starred; dates kept.
fn star_numbers(s: &str) -> String {
    let out = LONG_NUMBER.replace_all(s, |c: &Captures| {
        let m = &c[0];
        if DATE.is_match(m) { m.to_string() } else { stars(m) }
    });
    let out = HANDLE.replace_all(&out, |c: &Captures| format!("{}{}{}", &c[1], &c[2], stars(&c[3])));
    EMAIL.replace_all(&out, |c: &Captures| stars(&c[0])).into_owned()
}

/// Names introduced or titled in `s`, and the `names` given, cut to their first character.
fn mask_names(s: &str, names: &[&str]) -> String {
    let mut out = NAMED
        .replace_all(s, |c: &Captures| {
            if let Some(name) = c.name("name") {
                format!("{}{}{}", &c["intro"], &c["gap"], mask_name(name.as_str()))
            } else {
                let titled = c.name("titled").map_or("", |m| m.as_str());
                let keep = titled.is_empty() || NOT_NAMES.iter().any(|w| titled.ends_with(w) || *w == titled);
                let shown = if keep { titled.to_string() } else { mask_name(titled) };
                format!("{shown}{}", &c["title"])
            }
        })
        .into_owned();
    for name in names {
        out = replace_name_with(&out, name, mask_name);
    }
    out
}

/// Whether `c` may stand between a name's characters without making it another word: the
/// padding space forms put in two-character names (王　芳), or anything invisible.
fn is_gap(c: char) -> bool {
    c.is_whitespace() || INVISIBLE.is_match(c.encode_utf8(&mut [0; 4]))
}

/// Every writing of `name` in `s` (its characters with gaps between, see [`is_gap`]) replaced
/// by `by` of the name; `s` unchanged for a name under two characters. A scan, not a regex
/// built per name: it runs for every row of a public page.
fn replace_name_with(s: &str, name: &str, by: impl Fn(&str) -> String) -> String {
    let name: Vec<char> = normalised(name).chars().filter(|c| !is_gap(*c)).collect();
    if name.len() < 2 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(name[0]) {
        let mut end = at + name[0].len_utf8();
        let mut matched = 1;
        for (i, c) in rest[end..].char_indices() {
            if matched == name.len() {
                break;
            }
            if c == name[matched] {
                matched += 1;
                end = at + name[0].len_utf8() + i + c.len_utf8();
            } else if !is_gap(c) {
                break;
            }
        }
        if matched == name.len() {
            out.push_str(&rest[..at]);
            out.push_str(&by(&name.iter().collect::<String>()));
        } else {
            end = at + name[0].len_utf8();
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Every writing of `name` in `s` replaced by `by`, the rest of `s` as it was: for taking an
/// anonymised person's name out of what staff and residents wrote.
pub fn replace_name(s: &str, name: &str, by: &str) -> String {
    replace_name_with(s, name, |_| by.to_string())
}

/// Wording staff wrote for the public: only phone, ID and card numbers, messaging handles and
/// e-mail addresses are starred; the rest stands as written.
pub fn numbers(s: &str) -> String {
    star_numbers(&normalised(s))
}

/// A free text as the public may read it: names introduced or titled in it and the `names`
/// given (the reporter's, a linked resident's) cut to their first character; long numbers,
/// handles and e-mail addresses starred; rooms, units, floors and door numbers hidden.
pub fn text(s: &str, names: &[&str]) -> String {
    // Names first: "我是王小芳13812341234" still reads as a name before its number.
    let mut out = mask_names(&normalised(s), names);
    out = star_numbers(&out);
    out = DASHED_ROOM
        .replace_all(&out, |c: &Captures| match (c.name("b"), c.name("b2")) {
            (Some(_), _) if DATE.is_match(&c[0]) => c[0].to_string(),
            (Some(b), _) => format!("{}-*", b.as_str()),
            (None, Some(b)) if is_door(c.name("after").map_or("", |a| a.as_str()), false) => {
                format!("{}-*{}", b.as_str(), c.name("after").map_or("", |a| a.as_str()))
            }
            _ => c[0].to_string(),
        })
        .into_owned();
    out = ROW_HOUSE.replace_all(&out, "*排*号").into_owned();
    out = ROOM
        .replace_all(&out, |c: &Captures| format!("*{}", c.get(1).or(c.get(2)).map_or("", |m| m.as_str())))
        .into_owned();
    out = FLOOR
        .replace_all(&out, |c: &Captures| {
            let household = if c[0].ends_with('户') { "*户" } else { "" };
            format!("{}*楼{household}", &c[1])
        })
        .into_owned();
    BARE_DOOR
        .replace_all(&out, |c: &Captures| {
            let after = c.name("after").map_or("", |a| a.as_str());
            let (lead, strong) = match (c.name("strong"), c.name("weak")) {
                (Some(l), _) => (l.as_str(), true),
                (_, Some(l)) => (l.as_str(), false),
                _ => ("", false),
            };
            if is_door(after, strong) { format!("{lead}{}*{after}", &c["gap"]) } else { c[0].to_string() }
        })
        .into_owned()
}

/// An address as the public may read it: up to the building. "民和社区3号楼1单元201室" →
/// "民和社区3号楼"; "御河九号小区3-2-501" → "御河九号小区3号楼"; "3栋502" → "3栋";
/// "新建北路58号院3排5号" → "新建北路58号院". A part repeated by the way addresses are put
/// together ("永宁社区 8号楼 永宁社区8号楼") is said once. Then the rules of [`text`], with the
/// `names` given.
pub fn address(s: &str, names: &[&str]) -> String {
    let s = normalised(s);
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
        // A building word stays: "3号楼5楼" → "3号楼"; "住5楼" goes whole.
        let lead = c.get(1).expect("the lead");
        let keep = matches!(lead.as_str(), "单元" | "号楼" | "栋" | "幢" | "座");
        cut = cut.min(if keep { lead.end() } else { lead.start() });
    }
    for c in BARE_DOOR.captures_iter(s) {
        let strong = c.name("strong");
        if is_door(c.name("after").map_or("", |a| a.as_str()), strong.is_some()) {
            // A building word stays ("3栋502" → "3栋"); a placing word goes with the door.
            let cut_at = match (strong, c.name("weak")) {
                (Some(l), _) if matches!(l.as_str(), "号楼" | "栋" | "幢" | "座" | "单元") => l.end(),
                (Some(l), _) | (_, Some(l)) => l.start(),
                _ => c.get(0).expect("whole").start(),
            };
            cut = cut.min(cut_at);
            break;
        }
    }
    if let Some(c) = DASHED_ROOM.captures(s) {
        let m = c.get(0).expect("whole match");
        let building = c
            .name("b")
            .filter(|_| !DATE.is_match(m.as_str()))
            .or_else(|| c.name("b2").filter(|_| is_door(c.name("after").map_or("", |a| a.as_str()), false)));
        if let Some(b) = building
            && m.start() < cut
        {
            cut = m.start();
            building_from_dashes = Some(format!("{}号楼", b.as_str()));
        }
    }
    let mut out = s[..cut].trim_end_matches(|c: char| c.is_whitespace() || "，,、-#".contains(c)).to_string();
    if let Some(b) = building_from_dashes {
        out.push_str(&b);
    }
    text(&said_once(&out), names)
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
        assert_eq!(text("3栋502；3-502", &[]), "3栋*；3-*");
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
        assert_eq!(address("民和社区3号楼1单元201室", &[]), "民和社区3号楼");
        assert_eq!(address("振华南街…3号楼2单元501室", &[]), "振华南街…3号楼");
        assert_eq!(address("御河九号小区3-2-501", &[]), "御河九号小区3号楼");
        assert_eq!(address("宏安小区 2号楼 5楼", &[]), "宏安小区 2号楼");
        assert_eq!(address("万城华府小区3号楼", &[]), "万城华府小区3号楼");
        assert_eq!(address("魏都大道与文兴路口", &[]), "魏都大道与文兴路口");
        assert_eq!(address("401室", &[]), "");
        assert_eq!(address("御河九号小区3栋502", &[]), "御河九号小区3栋");
        assert_eq!(address("恒安新区B区12号楼1002", &[]), "恒安新区B区12号楼");
        assert_eq!(address("新建北路58号院3排5号", &[]), "新建北路58号院");
        assert_eq!(address("御河九号社区 御河九号小区 3号楼501", &[]), "御河九号社区 御河九号小区 3号楼");
        assert_eq!(address("永宁社区 8号楼 永宁社区8号楼3单元302", &[]), "永宁社区8号楼");
        assert_eq!(address("小区3-502", &[]), "小区3号楼");
    }

    /// The ways people actually write numbers, names and doors, found by attacking the feed.
    #[test]
    fn what_an_attacker_typed_is_redacted() {
        for (typed, public) in [
            ("电话138.1234.5678", "电话*************"),
            ("138\u{a0}1234\u{a0}5678", "*** **** ****"),
            ("138–1234–5678", "*************"),
            ("138\u{2011}1234\u{2011}5678", "*************"),
            ("138　1234　5678", "*** **** ****"),
            ("138，1234，5678", "*************"),
            ("138/1234/5678", "*************"),
            ("138_1234_5678", "*************"),
            ("138\u{200b}1234\u{200b}5678", "***********"),
            ("138 – 1234 – 5678", "*** * **** * ****"),
            ("一三八 一二三四 五六七八", "*** **** ****"),
            ("138一二三四5678", "***********"),
            ("壹叁捌壹贰叁肆伍陆柒捌", "***********"),
            ("身份证140202/1980/0101/123X", "身份证*********************"),
            ("微信号 wangxf1980", "微信号 **********"),
            ("wang＠qq．com", "***********"),
            ("我电话138\u{1}1234\u{1}5678", "我电话***********"),
            ("138\n1234\n5678", "***\n****\n****"),
            // Two characters or three: the rule cannot know, so it hides three.
            ("我是王芳今天家里停水", "我是王**天家里停水"),
            ("我是欧阳小芳，漏水", "我是欧***，漏水"),
            ("我姓陈叫陈建英阿姨", "我姓陈叫陈**阿姨"),
            ("隔壁李桂兰老人81岁，糖尿病", "隔壁李**老人81岁，糖尿病"),
            ("儿子王建军在外地", "儿子王**在外地"),
            ("独居老人需要帮助，高龄老人", "独居老人需要帮助，高龄老人"),
            ("3号楼501号", "3号楼*号"),
            ("房号501", "房号*"),
            ("门牌号：502", "门牌号：*"),
            ("三号楼二单元五零一室", "三号楼*单元*室"),
            ("住5楼东户", "住*楼*户"),
            ("宏安小区2号楼东单元302户", "宏安小区2号楼东单元*户"),
        ] {
            assert_eq!(text(typed, &[]), public, "{typed:?}");
        }
        assert_eq!(text("王　芳家门口楼道灯坏了，联系人王芳", &["王芳"]), "王*家门口楼道灯坏了，联系人王*");
        assert_eq!(text("张\u{200b}三说灯坏了", &["张三"]), "张*说灯坏了");
        assert_eq!(replace_name("张\u{200b}三和王 芳，张三", "张三", "(已匿名)"), "(已匿名)和王 芳，(已匿名)");
        assert_eq!(replace_name("abc", "", "x"), "abc");
        assert_eq!(replace_name("王王芳说，王 ", "王芳", "X"), "王X说，王 ");
        assert_eq!(text("找王芳", &["王芳"]), "找王*");
        assert_eq!(address("民和社区3号楼501号", &[]), "民和社区3号楼");
        assert_eq!(address("宏安小区2号楼东单元302户", &[]), "宏安小区2号楼东单元");
        assert_eq!(address("民和社区3号楼王小芳家", &["王小芳"]), "民和社区3号楼王**家");
        assert_eq!(address("民和社区住5楼", &[]), "民和社区");
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
            for out in [text(&s, &[]), address(&s, &[]), numbers(&s)] {
                for m in LONG_NUMBER.find_iter(&out) {
                    prop_assert!(DATE.is_match(m.as_str()), "{s:?} → {out:?}");
                }
            }
        }

        #[test]
        fn any_text_is_handled(s in "\\PC{0,200}") {
            let _ = text(&s, &["王小芳"]);
            let _ = address(&s, &[]);
            let _ = numbers(&s);
        }
    }
}
