//! The key-encryption key (KEK): private signing keys are stored encrypted
//! under it with AES-256-GCM, the key id as associated data, so a ciphertext
//! cannot be moved onto another key's row.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use super::aead::SealKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why the KEK could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The file or variable holds something that is not 32 base64 bytes.
    #[error("{0} must hold 32 random bytes in base64 (create one with `openssl rand -base64 32`)")]
    Malformed(String),
    /// Reading or creating the file failed.
    #[error("cannot use key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Authentication of a ciphertext failed: wrong KEK or tampered row.
    #[error("cannot decrypt a private key: wrong key-encryption key or tampered data")]
    Decrypt,
}

/// A 256-bit key-encryption key and its id.
pub struct Kek {
    id: String,
    key: SealKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

impl Kek {
    /// From base64 text (the `IDP_MASTER_KEY` value or the file's content).
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, KekError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KekError::Malformed(origin.to_owned()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KekError::Malformed(origin.to_owned()))?;
        // The id names the KEK without revealing it: a truncated hash.
        let id = super::sha256_hex(&key)[..16].to_owned();
        Ok(Self { id, key: SealKey::new(key) })
    }

    /// Load from `path`, creating it (mode 0600) with a fresh random key on
    /// first start. Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KekError> {
        let io = |source| KekError::Io { path: path.display().to_string(), source };
        match Self::load(path) {
            Err(KekError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            loaded => return loaded.map(|k| (k, false)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = format!("{}\n", STANDARD.encode(super::random_bytes(32)));
        // Written whole to a temporary file, then linked into place: the link
        // fails if the file appeared meanwhile (another node starting on the
        // same volume), and that node's key, complete once linked, is the one
        // to use. A volume without hard links (vfat, some network and FUSE
        // mounts) gets the file created in place, as before.
        let tmp = write_temp(path, &text)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            // Read once: a name that exists but cannot be read (a dangling
            // symbolic link) is an error, not a reason to try again.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Self::load(path).map(|k| (k, false)),
            Err(_) => {
                let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
                f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io)?;
            }
        }
        sync_dir(path)?;
        Ok((Self::from_base64(&text, &path.display().to_string())?, true))
    }

    /// Read the key in `path`, warning when others may read the file.
    fn load(path: &Path) -> Result<Self, KekError> {
        let io = |source| KekError::Io { path: path.display().to_string(), source };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "key-encryption key file is readable by others; chmod 600 it");
        }
        Self::from_base64(&text, &path.display().to_string())
    }

    /// A fresh random KEK (for `keys rewrap`).
    pub fn generate() -> Result<Self, KekError> {
        Self::from_base64(&STANDARD.encode(super::random_bytes(32)), "a generated key")
    }

    /// The key as base64 text, for the operator's secret store. Shown once, never logged.
    pub fn to_base64(&self) -> super::Secret {
        super::Secret::new(STANDARD.encode(self.key.bytes()))
    }

    /// Load `<path>.previous`, the KEK a `keys rewrap` replaced, if that file exists.
    pub fn load_previous(path: &Path) -> Result<Option<Self>, KekError> {
        let prev = previous_path(path);
        match std::fs::read_to_string(&prev) {
            Ok(text) => Ok(Some(Self::from_base64(&text, &prev.display().to_string())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KekError::Io { path: prev.display().to_string(), source }),
        }
    }

    /// Make `self` the key in `path`: the file's current content is kept as
    /// `<path>.previous`, then the new key replaces the file. Both are written
    /// to a temporary file (mode 0600), synced and renamed into place, so a
    /// crash leaves either the old or the new file, never a torn one.
    pub fn replace_file(&self, path: &Path) -> Result<(), KekError> {
        let io = |source| KekError::Io { path: path.display().to_string(), source };
        let old = std::fs::read_to_string(path).map_err(io)?;
        write_atomically(&previous_path(path), &old)?;
        write_atomically(path, &format!("{}\n", self.to_base64().expose()))
    }

    /// The KEK's id, recorded on every key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypt `plaintext`, binding it to `aad`: nonce || ciphertext || tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        self.key.seal(aad, plaintext).map_err(|_| KekError::Decrypt)
    }

    /// Decrypt what [`Kek::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        self.key.open(aad, sealed).map_err(|_| KekError::Decrypt)
    }
}

/// `<path>.previous`: where [`Kek::replace_file`] keeps the replaced key.
pub fn previous_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".previous");
    name.into()
}

/// Write `text` to `path` through a synced temporary file (mode 0600) and a rename.
fn write_atomically(path: &Path, text: &str) -> Result<(), KekError> {
    let tmp = write_temp(path, text)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(KekError::Io { path: path.display().to_string(), source: e });
    }
    sync_dir(path)
}

/// `text` in a new file (mode 0600) beside `path`, synced; returns its path.
fn write_temp(path: &Path, text: &str) -> Result<std::path::PathBuf, KekError> {
    let io = |source| KekError::Io { path: path.display().to_string(), source };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", super::random_id()));
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(tmp)
}

/// A rename or link into `path`'s directory is durable once the directory
/// entry is. A filesystem that cannot sync a directory (it says so with
/// `EINVAL`) gives no more durability than it has.
fn sync_dir(path: &Path) -> Result<(), KekError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => Ok(()),
        done => done.map_err(|source| KekError::Io { path: path.display().to_string(), source }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let (kek, created) = Kek::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, created) = Kek::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(kek.id(), again.id());
        let sealed = kek.seal(b"kid-1", b"private key").unwrap();
        assert_eq!(again.open(b"kid-1", &sealed).unwrap(), b"private key");
        assert!(kek.open(b"kid-2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(kek.open(b"kid-1", &tampered).is_err());
    }

    /// Nodes starting together on one volume: exactly one creates the file,
    /// every one ends with its key, and no temporary file is left.
    #[test]
    fn nodes_creating_the_file_at_once_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let results: Vec<(String, bool)> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Kek::load_or_create(&path).map(|(k, created)| (k.id().to_owned(), created))))
                .collect();
            starts.into_iter().map(|t| t.join().unwrap().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1, "{results:?}");
        assert!(results.iter().all(|(id, _)| *id == results[0].0), "{results:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A name that exists but cannot be read (a dangling symbolic link) is an
    /// error naming the file, tried once.
    #[test]
    fn a_dangling_link_in_place_of_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::os::unix::fs::symlink(dir.path().join("gone"), &path).unwrap();
        let e = Kek::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("master.key"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn replacing_the_file_keeps_the_previous_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (old, _) = Kek::load_or_create(&path).unwrap();
        assert!(Kek::load_previous(&path).unwrap().is_none());
        let new = Kek::generate().unwrap();
        assert_ne!(new.id(), old.id());
        new.replace_file(&path).unwrap();
        let (loaded, created) = Kek::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(loaded.id(), new.id());
        assert_eq!(Kek::load_previous(&path).unwrap().unwrap().id(), old.id());
        for p in [path.clone(), previous_path(&path)] {
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let again = Kek::from_base64(new.to_base64().expose(), "test").unwrap();
        assert_eq!(again.id(), new.id());
    }
}
