//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s), with replay protection: a code's time
//! step must be later than the last one accepted for the account.

use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP: u64 = 30;

pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

fn totp(secret_b32: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, STEP, bytes, Some("Linli".into()), account.replace(':', "_")).ok()
}

/// The otpauth:// URL an authenticator app imports.
pub fn url(secret_b32: &str, account: &str) -> String {
    totp(secret_b32, account).map(|t| t.get_url()).unwrap_or_default()
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Returns the accepted time step, or None. Allows one step of clock drift either way.
pub fn verify(secret_b32: &str, account: &str, code: &str, last_step: i64, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret_b32, account)?;
    let current = (now / STEP) as i64;
    (current - 1..=current + 1).find(|&step| step > last_step && t.generate(step as u64 * STEP) == code)
}

/// A code for the current step (tests and the demo's documentation use it).
pub fn code_at(secret_b32: &str, account: &str, now: u64) -> String {
    totp(secret_b32, account).map(|t| t.generate(now)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_once_and_refuses_replay() {
        let s = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&s, "a", now);
        let step = verify(&s, "a", &code, 0, now).expect("fresh code accepted");
        assert_eq!(verify(&s, "a", &code, step, now), None, "replay refused");
        assert_eq!(verify(&s, "a", "12345", 0, now), None);
        assert_eq!(verify(&s, "a", &code, 0, now + 10 * STEP), None, "expired");
    }
}
