//! Secrets at rest: AES-256-GCM with a key id stored beside every sealed value, so keys can be
//! rotated (seal with the newest, open with any listed). TOTP secrets, ID and phone numbers use
//! it. The same secrets key the blind indexes and the MACs that make the audit chain and backups
//! tamper-evident to anyone without the key.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Hmac;
use hmac::Mac as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub struct Keyring {
    /// Newest first: the first key seals; all of them open.
    keys: Vec<(String, Aes256Gcm)>,
    /// Per key: the HMAC key of its blind index, derived from the same secret.
    index_keys: Vec<(String, [u8; 32])>,
    /// Per key: the root of its MACs over things kept outside our control (audit chain links,
    /// backup files), derived from the same secret.
    mac_keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Parses `id:base64key[,id:base64key…]` (newest first); a bare base64 key gets id `k1`.
    pub fn parse(spec: &str) -> anyhow::Result<Keyring> {
        let mut keys = Vec::new();
        let mut index_keys = Vec::new();
        let mut mac_keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part.split_once(':').unwrap_or(("k1", part));
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                bail!("a key id must be letters and digits");
            }
            let raw = B64.decode(b64.trim()).context("secret key is not base64")?;
            if raw.len() != 32 {
                bail!("a secret key must be 32 bytes (base64 of 32 random bytes)");
            }
            keys.push((id.to_string(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&raw))));
            // A separate key for the blind index, so the AES key itself never meets HMAC.
            let derived: [u8; 32] =
                Sha256::new().chain_update(b"linli blind index v1").chain_update(&raw).finalize().into();
            index_keys.push((id.to_string(), derived));
            let derived: [u8; 32] = Sha256::new().chain_update(b"linli mac v1").chain_update(&raw).finalize().into();
            mac_keys.push((id.to_string(), derived));
        }
        if keys.is_empty() {
            bail!("no secret key given");
        }
        // MACs and sealed values name their key by id: two keys under one id would be ambiguous.
        for (i, (id, _)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(k, _)| k == id) {
                bail!("key id {id} is given twice");
            }
        }
        Ok(Keyring { keys, index_keys, mac_keys })
    }

    /// A new random key spec, `k1:…`.
    pub fn generate_spec() -> String {
        Keyring::generate_spec_with_id("k1")
    }

    /// A new random key spec under `id`.
    pub fn generate_spec_with_id(id: &str) -> String {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        format!("{id}:{}", B64.encode(raw))
    }

    /// The id a key added to this ring should take: after the highest `kN`, `k(N+1)`.
    pub fn next_id(&self) -> String {
        let highest = self.ids().filter_map(|id| id.strip_prefix('k')?.parse::<u64>().ok()).max().unwrap_or(0);
        format!("k{}", highest + 1)
    }

    /// Key ids, newest first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    pub fn holds(&self, id: &str) -> bool {
        self.ids().any(|k| k == id)
    }

    /// The key from `LINLI_SECRET_KEY`; without it, on SQLite, `secret.key` in the data directory
    /// (readable by the owner only). PostgreSQL deployments run several instances, which must
    /// share one key: there it has to be given. Never makes a key: a new one would open nothing
    /// a database or backup holds, and its MACs would make them look altered ([`Keyring::create`]
    /// is for new databases).
    pub fn load(given: Option<&str>, data_dir: &Path, embedded: bool) -> anyhow::Result<Keyring> {
        if let Some(spec) = given {
            return Keyring::parse(spec);
        }
        if !embedded {
            bail!(
                "LINLI_SECRET_KEY is required with PostgreSQL (every instance needs the same key); `linli keygen` prints one"
            );
        }
        let path = data_dir.join("secret.key");
        if !path.exists() {
            return Err(NoKey(path).into());
        }
        crate::fsperm::tighten(&path);
        Keyring::parse(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
    }

    /// Writes a new `secret.key` into `data_dir` (owner-only) and loads it.
    pub fn create(data_dir: &Path) -> anyhow::Result<Keyring> {
        let path = data_dir.join("secret.key");
        crate::fsperm::private_dir(data_dir)?;
        write_private(&path, &Keyring::generate_spec())?;
        Keyring::load(None, data_dir, true)
    }

    pub fn seal(&self, plain: &[u8]) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct =
            cipher.encrypt(Nonce::from_slice(&nonce), plain).expect("AES-GCM encryption of a small value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{id}:{}", B64.encode(out))
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Keyed hash of a normalised value for exact lookup (`kind` separates ID numbers from
    /// phones), made with the newest key: `k1:hex`.
    pub fn blind(&self, kind: &str, value: &str) -> String {
        blind_with(&self.index_keys[0], kind, value)
    }

    /// The hashes of `value` under every key in the ring: during a rotation some rows still
    /// carry the old key's hash, and a lookup must find them too.
    pub fn blind_all(&self, kind: &str, value: &str) -> Vec<String> {
        self.index_keys.iter().map(|k| blind_with(k, kind, value)).collect()
    }

    /// A MAC for `purpose` under the newest key; [`Mac::finish`] gives `id:hex`.
    pub fn mac(&self, purpose: &str) -> Mac {
        Mac::new(&self.mac_keys[0], purpose)
    }

    /// A MAC for `purpose` under the key that made `tagged` (`id:hex`), to check it with
    /// [`Mac::verify`]; None when that key is not in the ring (any more).
    pub fn mac_for(&self, purpose: &str, tagged: &str) -> Option<Mac> {
        let (id, _) = tagged.split_once(':')?;
        self.mac_keys.iter().find(|(k, _)| k == id).map(|k| Mac::new(k, purpose))
    }

    /// `id:hex`, a short value that names the secret of key `id` without revealing anything of
    /// it (a MAC of nothing, for a purpose of its own). Kept beside what the key made (a
    /// backup), it tells "made with another key under the same id" apart from "altered".
    pub fn check_value(&self, id: &str) -> Option<String> {
        let key = self.mac_keys.iter().find(|(k, _)| k == id)?;
        let tag = Mac::new(key, "linli key check v1").finish();
        Some(tag[..id.len() + 1 + 16].to_string())
    }

    pub fn open_text(&self, sealed: &str) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.open(sealed)?)?)
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let (id, b64) = sealed.split_once(':').context("sealed value without a key id")?;
        let Some((_, cipher)) = self.keys.iter().find(|(k, _)| k == id) else {
            return Err(MissingKey(id.to_string()).into());
        };
        let raw = B64.decode(b64).context("sealed value is not base64")?;
        if raw.len() < 12 + 16 {
            bail!("sealed value too short");
        }
        let (nonce, ct) = raw.split_at(12);
        cipher.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| anyhow::anyhow!("sealed value fails authentication"))
    }
}

/// No key file where one was looked for (and none given).
#[derive(Debug, thiserror::Error)]
#[error("no secret key: put the key this database was made with in {} or LINLI_SECRET_KEY", .0.display())]
pub struct NoKey(pub std::path::PathBuf);

/// A sealed value names a key the ring does not hold (retired too early, or another
/// deployment's): nothing is wrong with the value or the request, only the server's keyring.
#[derive(Debug, thiserror::Error)]
#[error("the value is sealed with key {0}, which the keyring does not hold")]
pub struct MissingKey(pub String);

/// HMAC-SHA256 under a key of the ring, for one purpose: the purpose is the first thing
/// hashed, so a MAC made for one (an audit link) never checks as another (a backup).
pub struct Mac {
    id: String,
    mac: Hmac<Sha256>,
}

impl Mac {
    fn new((id, key): &(String, [u8; 32]), purpose: &str) -> Mac {
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        Mac { id: id.clone(), mac }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.mac.update(data);
    }

    /// `id:hex`, the key id first so that any ring holding that key can check it.
    pub fn finish(self) -> String {
        format!("{}:{}", self.id, hex::encode(self.mac.finalize().into_bytes()))
    }

    /// Whether `tagged` (`id:hex`) is this MAC, compared in constant time.
    pub fn verify(self, tagged: &str) -> bool {
        match tagged.split_once(':') {
            Some((id, code)) if id == self.id => {
                hex::decode(code).is_ok_and(|code| self.mac.verify_slice(&code).is_ok())
            }
            _ => false,
        }
    }
}

fn blind_with((id, key): &(String, [u8; 32]), kind: &str, value: &str) -> String {
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(b"\0");
    mac.update(value.as_bytes());
    format!("{id}:{}", hex::encode(mac.finalize().into_bytes()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = crate::fsperm::create_private_file(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_rotate() {
        let old = Keyring::parse(&Keyring::generate_spec()).unwrap();
        let sealed = old.seal(b"JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with("k1:"));
        assert_ne!(old.seal(b"JBSWY3DPEHPK3PXP"), sealed, "fresh nonce each time");
        assert_eq!(old.open(&sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(old.open(&tampered).is_err());
        // A new key first, the old one kept: old values still open, new ones use k2.
        let old_spec_key = Keyring::generate_spec();
        let ring1 = Keyring::parse(&old_spec_key).unwrap();
        let v1 = ring1.seal(b"x");
        let k2 = Keyring::generate_spec().replacen("k1:", "k2:", 1);
        let ring2 = Keyring::parse(&format!("{k2},{old_spec_key}")).unwrap();
        assert_eq!(ring2.open(&v1).unwrap(), b"x");
        assert!(ring2.seal(b"y").starts_with("k2:"));
        assert!(Keyring::parse("k1:c2hvcnQ=").is_err());
        // Blind index: stable per key, different across keys and kinds, found under every key.
        assert_eq!(ring1.blind("id", "1"), ring1.blind("id", "1"));
        assert_ne!(ring1.blind("id", "1"), ring1.blind("phone", "1"));
        let all = ring2.blind_all("id", "1");
        assert!(all[0].starts_with("k2:") && all.contains(&ring1.blind("id", "1")));
    }

    #[test]
    fn macs_name_their_key_and_keep_to_their_purpose() {
        let k1 = Keyring::generate_spec();
        let ring1 = Keyring::parse(&k1).unwrap();
        let mut m = ring1.mac("audit link");
        m.update(b"row");
        let tag = m.finish();
        assert!(tag.starts_with("k1:"));
        let check = |ring: &Keyring, purpose: &str, data: &[u8], tag: &str| {
            ring.mac_for(purpose, tag).map(|mut m| {
                m.update(data);
                m.verify(tag)
            })
        };
        assert_eq!(check(&ring1, "audit link", b"row", &tag), Some(true));
        assert_eq!(check(&ring1, "audit link", b"rov", &tag), Some(false));
        assert_eq!(check(&ring1, "backup", b"row", &tag), Some(false), "another purpose");
        // After a rotation the old key still checks what it made; without it, nothing can.
        let k2 = Keyring::generate_spec().replacen("k1:", "k2:", 1);
        let rotated = Keyring::parse(&format!("{k2},{k1}")).unwrap();
        assert_eq!(check(&rotated, "audit link", b"row", &tag), Some(true));
        assert!(rotated.mac("audit link").finish().starts_with("k2:"));
        assert_eq!(check(&Keyring::parse(&k2).unwrap(), "audit link", b"row", &tag), None);
        // The same id with another secret is not the key that made it.
        assert_eq!(check(&Keyring::parse(&Keyring::generate_spec()).unwrap(), "audit link", b"row", &tag), Some(false));
        assert!(Keyring::parse(&format!("{k1},{k1}")).is_err(), "one id, one key");
    }

    #[test]
    fn new_keys_take_the_next_free_id_and_check_values_tell_keys_apart() {
        let k1 = Keyring::generate_spec();
        let ring = Keyring::parse(&k1).unwrap();
        assert_eq!(ring.next_id(), "k2");
        let k2 = Keyring::generate_spec_with_id(&ring.next_id());
        let both = Keyring::parse(&format!("{k2},{k1}")).unwrap();
        assert_eq!(both.next_id(), "k3");
        assert_eq!(Keyring::parse(&Keyring::generate_spec_with_id("main")).unwrap().next_id(), "k1");
        let check = ring.check_value("k1").unwrap();
        assert!(check.starts_with("k1:") && check.len() == 3 + 16, "{check}");
        assert_eq!(both.check_value("k1"), Some(check.clone()), "the same secret, the same value");
        assert_ne!(Keyring::parse(&Keyring::generate_spec()).unwrap().check_value("k1"), Some(check));
        assert_eq!(ring.check_value("k2"), None);
        let sealed = both.seal(b"x");
        let err = ring.open(&sealed).unwrap_err();
        assert_eq!(err.downcast_ref::<MissingKey>().map(|m| m.0.as_str()), Some("k2"));
    }
}
