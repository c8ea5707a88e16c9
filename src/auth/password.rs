//! Password hashing (argon2id) and the password policy.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).unwrap())
}

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid params cannot fail")
        .to_string()
}

pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Argon2id takes 19 MiB and tens of milliseconds of CPU per hash by design. Hashes run off
/// the async workers, at most one per core at a time: a burst of logins (a shift starting at
/// 9:00, a password-guessing script) queues here instead of taking 19 MiB and a thread each.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    // The permit goes with the work: a caller that gives up waiting does not free the slot of a
    // hash still running.
    let permit = HASHING.acquire().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await?)
}

/// `hash` off the async workers.
pub async fn hash_off_thread(password: &str) -> anyhow::Result<String> {
    let p = password.to_string();
    hashing(move || hash(&p)).await
}

/// `verify` off the async workers; with no stored hash (an unknown or locked account, a
/// malformed attempt) it spends the same time and answers false.
pub async fn verify_off_thread(password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
    let (p, h) = (password.to_string(), stored.map(str::to_string));
    hashing(move || match h {
        Some(h) => verify(&p, &h),
        None => {
            burn_time(&p);
            false
        }
    })
    .await
}

/// Verifies against a fixed hash so an unknown account costs the same time as a wrong password.
fn burn_time(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("linli-timing-equaliser"));
    let _ = verify(password, dummy);
}

const COMMON: &str = include_str!("common_passwords.txt");

/// Checks the policy; returns the i18n code of the first rule broken.
pub fn check_policy(password: &str, account: &str, display_name: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err("password.too_short");
    }
    if chars > MAX_LEN {
        return Err("password.too_long");
    }
    let lower = password.to_lowercase();
    for own in [account, display_name] {
        let own = own.trim().to_lowercase();
        if own.chars().count() >= 2 && lower.contains(&own) {
            return Err("password.contains_name");
        }
    }
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() <= 3 || is_common(&lower) {
        return Err("password.common");
    }
    Ok(())
}

fn is_common(lower: &str) -> bool {
    // Also catches a listed password padded with digits or symbols to reach the length.
    let core: String = lower.trim_end_matches(|c: char| !c.is_alphabetic()).to_string();
    COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|w| {
        w == lower
            || (w.len() >= 6
                && (w == core || lower.starts_with(w) && lower[w.len()..].chars().all(|c| !c.is_alphabetic())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rules() {
        assert_eq!(check_policy("short", "a", "b"), Err("password.too_short"));
        assert_eq!(check_policy(&"x".repeat(129), "a", "b"), Err("password.too_long"));
        assert!(check_policy(&"Ab1!".repeat(16), "zz", "yy").is_ok(), "64 chars allowed");
        assert_eq!(check_policy("wangpeng-2026-xyz", "wangpeng", "王鹏"), Err("password.contains_name"));
        assert_eq!(check_policy("我是王鹏的密码好长啊啊啊", "wp", "王鹏"), Err("password.contains_name"));
        assert_eq!(check_policy("password123456", "a", "b"), Err("password.common"));
        assert_eq!(check_policy("qwertyuiop!!", "a", "b"), Err("password.common"));
        assert_eq!(check_policy("aaaaaaaaaaaaaa", "a", "b"), Err("password.common"));
        assert!(check_policy("correct horse battery", "a", "b").is_ok());
    }

    #[test]
    fn hash_round_trip() {
        let h = hash("a long enough secret");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("a long enough secret", &h));
        assert!(!verify("another secret!!", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_run_at_most_one_per_core_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let limit = HASHING.available_permits();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..limit * 3)
            .map(|_| {
                let (now, most) = (now.clone(), most.clone());
                tokio::spawn(hashing(move || {
                    most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    now.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), limit, "as many at once as there are cores, never more");
        assert!(verify_off_thread("x", None).await.is_ok_and(|ok| !ok), "no stored hash never verifies");
    }
}
