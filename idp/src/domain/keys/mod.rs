//! The signing-key ring: every published key in memory, the active key per
//! algorithm, the pre-rendered JWKS. Loaded from the store at start-up (and
//! on reload); private keys are decrypted with the key-encryption key (KEK)
//! that wrapped them — the ring holds several KEKs by id while one is replaced.
//!
//! Lifecycle (DESIGN §5, [`lifecycle`]): `next` (published, not signing) →
//! `active` (signs) → `retired` (published until what it signed has expired)
//! → removed; `revoked` leaves the JWKS at once.

pub mod lifecycle;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use josekit::jws::{JwsSigner, JwsVerifier};
use serde_json::{Map, Value, json};

use crate::crypto::jwt::{self, Alg};
use crate::crypto::kek::Kek;
use crate::store::{ServerSecret, SigningKey, Store, StoreError, Timestamp};

/// Algorithms that always have an active and a next key.
pub const DEFAULT_ALGS: [Alg; 4] = [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa];

/// Key-ring failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Decryption or JOSE failure (wrong KEK, corrupt row).
    #[error("{0}")]
    Crypto(String),
    /// No active key for the algorithm a client asked for.
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    /// No key with this kid (or a removed one).
    #[error("no signing key with kid {0:?}")]
    NotFound(String),
    /// Another node or admin changed the keys at the same moment; nothing was changed.
    #[error("the signing keys were changed concurrently; list them and try again")]
    Conflict,
    /// The request is not valid; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// A rotation would sign with a key relying parties may not have
    /// fetched yet; the text says when it may, and how to force it.
    #[error("{0}")]
    TooSoon(String),
}

/// A published key: public verifier, and a signer when it is active.
struct LoadedKey {
    kid: String,
    alg: Alg,
    verifier: Box<dyn JwsVerifier>,
    signer: Option<Box<dyn JwsSigner>>,
    /// When the key was created (its age is exported on `/metrics`).
    created_at: Timestamp,
}

/// One consistent snapshot of the keys.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<LoadedKey>>,
    active: HashMap<Alg, Arc<LoadedKey>>,
    jwks: Arc<Value>,
    /// `jwks` serialised once: the JWKS endpoint is fetched by every relying
    /// party and resource server.
    jwks_text: bytes::Bytes,
    /// Tokens this set verified, by their exact text (see [`Keyring::verify`]).
    verified: std::sync::Mutex<HashMap<String, Arc<Verified>>>,
}

/// A verified token's header `typ` and claims.
type Verified = (Option<String>, Map<String, Value>);

/// Verified tokens kept per key set. A resource server introspects the same
/// access token on every API call, and UserInfo sees it again: the RSA
/// verification and the JSON parse are done once. Tokens are kept by their
/// exact text, so only what verified is ever served; a reload starts a new
/// set with an empty map, so a key that left the set verifies nothing more.
/// Only the signature is remembered: expiry and revocation are checked by
/// the caller on every use. A few thousand tokens of 1–2 KB each at most;
/// past that the map starts over. (A map, not a caching crate: there is no
/// expiry or eviction order to manage.)
const VERIFIED_CAPACITY: usize = 4096;

/// The KEKs this node knows, by id; `current` wraps new keys.
struct Keks {
    current: Arc<Kek>,
    by_id: HashMap<String, Arc<Kek>>,
}

/// How the ring creates and unwraps keys.
#[derive(Debug, Clone, Default)]
pub struct KeyringOptions {
    /// Modulus size of new RSA keys (2048 or 3072).
    pub rsa_bits: u32,
    /// The KEK file, re-read on reload when a row names a KEK this node lacks
    /// (another node ran `keys rewrap` on a shared file). `None` with `IDP_MASTER_KEY`.
    pub kek_file: Option<PathBuf>,
}

/// The keys every request signs and verifies with; swapped atomically on reload.
pub struct Keyring {
    keks: RwLock<Keks>,
    options: KeyringOptions,
    set: RwLock<Arc<KeySet>>,
}

impl Keyring {
    /// Load the keys with one KEK and the default options (see [`Keyring::open_with`]).
    pub async fn open(store: &dyn Store, kek: Kek, now: Timestamp) -> Result<Self, KeyError> {
        Self::open_with(store, kek, Vec::new(), KeyringOptions::default(), now).await
    }

    /// Load the keys, first creating an active and a next key for each
    /// default algorithm that lacks them (first start; each creation is
    /// audited as `key.create` by `system:startup`). `kek` wraps new keys;
    /// `older` KEKs only unwrap (a `keys rewrap` in progress).
    pub async fn open_with(
        store: &dyn Store,
        kek: Kek,
        older: Vec<Kek>,
        options: KeyringOptions,
        now: Timestamp,
    ) -> Result<Self, KeyError> {
        let current = Arc::new(kek);
        let mut by_id: HashMap<String, Arc<Kek>> =
            older.into_iter().map(|k| (k.id().to_owned(), Arc::new(k))).collect();
        by_id.insert(current.id().to_owned(), current.clone());
        let options =
            KeyringOptions { rsa_bits: if options.rsa_bits == 0 { 2048 } else { options.rsa_bits }, ..options };
        let ring =
            Self { keks: RwLock::new(Keks { current, by_id }), options, set: RwLock::new(Arc::new(KeySet::default())) };
        let mut keys = store.list_signing_keys().await?;
        // First start: generate every missing key at once on the blocking
        // pool (RSA generation dominates start-up), then store them in order.
        let missing: Vec<(Alg, &str)> = DEFAULT_ALGS
            .into_iter()
            .flat_map(|alg| ["active", "next"].map(|state| (alg, state)))
            .filter(|(alg, state)| !keys.iter().any(|k| k.alg == alg.as_str() && k.state == *state))
            .collect();
        let mut pending = Vec::with_capacity(missing.len());
        for (alg, state) in missing {
            pending.push((state, ring.start_generation(alg)));
        }
        let created_any = !pending.is_empty();
        for (state, generation) in pending {
            let key = ring.finish_generation(generation, state, now).await?;
            match store.insert_signing_key(&key).await {
                Ok(()) => {}
                // Another node starting on the same empty database stored
                // this algorithm's key first (the database holds one active
                // and one next per algorithm): use its key, not ours.
                Err(crate::store::StoreError::Conflict("signing_key_state")) => continue,
                Err(e) => return Err(e.into()),
            }
            let detail = serde_json::json!({ "alg": key.alg, "state": key.state });
            crate::domain::audit::record_system(
                store,
                now,
                crate::domain::audit::SYSTEM_STARTUP,
                "key.create",
                Some(&key.kid),
                crate::domain::audit::Outcome::Success,
                Some(detail),
            )
            .await;
        }
        if created_any {
            keys = store.list_signing_keys().await?;
        }
        ring.install(&keys)?;
        Ok(ring)
    }

    /// Re-read the keys from the store (after a change on any node). On
    /// failure the ring keeps the keys it had.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), KeyError> {
        let keys = store.list_signing_keys().await?;
        self.learn_keks_from_file(&keys);
        self.install(&keys)
    }

    fn install(&self, keys: &[SigningKey]) -> Result<(), KeyError> {
        let set = build(&self.keks(), keys)?;
        if let Ok(mut guard) = self.set.write() {
            *guard = Arc::new(set);
        }
        Ok(())
    }

    /// A row names a KEK this node lacks: another node may have re-wrapped
    /// under a new key in a shared KEK file. Read the file (and `.previous`) again.
    fn learn_keks_from_file(&self, keys: &[SigningKey]) {
        let Some(path) = &self.options.kek_file else { return };
        let known = |id: &str| self.kek(id).is_some();
        if keys.iter().all(|k| known(&k.kek_id)) {
            return;
        }
        let current = Kek::load_or_create(path).map(|(k, _)| k);
        let previous = Kek::load_previous(path);
        for kek in [current.ok(), previous.ok().flatten()].into_iter().flatten() {
            if !known(kek.id()) {
                tracing::info!(kek = %kek.id(), "loaded a new key-encryption key from the key file");
                self.add_kek(kek, false);
            }
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn keks(&self) -> std::sync::RwLockReadGuard<'_, Keks> {
        match self.keks.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The KEK with this id, if this node has it.
    fn kek(&self, id: &str) -> Option<Arc<Kek>> {
        self.keks().by_id.get(id).cloned()
    }

    /// Seal a server secret under the current KEK (`aad` binds it to its
    /// name). Returns the ciphertext and the KEK id.
    pub fn seal_secret(&self, aad: &[u8], plain: &[u8]) -> Result<(Vec<u8>, String), KeyError> {
        let kek = self.current_kek();
        let sealed = kek.seal(aad, plain).map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok((sealed, kek.id().to_owned()))
    }

    /// Open a server secret sealed by [`Keyring::seal_secret`] under any KEK this node has.
    pub fn open_secret(&self, kek_id: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let kek = self.kek(kek_id).ok_or_else(|| {
            KeyError::Crypto(format!(
                "a server secret is wrapped by key-encryption key {kek_id}, which this node does not have"
            ))
        })?;
        kek.open(aad, sealed).map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// The deployment's 256-bit secret `name` (table `server_secrets`,
    /// sealed under the KEK with its name as associated data), creating it
    /// on first start: the first node to start writes it, every other node
    /// reads the same value. `keys rewrap` re-seals it; nothing replaces it.
    pub async fn server_secret(&self, store: &dyn Store, name: &str, now: Timestamp) -> Result<Vec<u8>, String> {
        // Read first: every start but the very first finds the secret, and
        // needs neither a new sealed candidate nor a write.
        let existing = store.list_server_secrets().await.map_err(|e| e.to_string())?;
        let stored = match existing.into_iter().find(|s| s.name == name) {
            Some(stored) => stored,
            None => {
                let (value_enc, kek_id) =
                    self.seal_secret(name.as_bytes(), &crate::crypto::random_bytes(32)).map_err(|e| e.to_string())?;
                let candidate = ServerSecret { name: name.to_owned(), value_enc, kek_id, created_at: now };
                store.put_server_secret_if_absent(&candidate).await.map_err(|e| e.to_string())?
            }
        };
        self.open_secret(&stored.kek_id, name.as_bytes(), &stored.value_enc).map_err(|e| e.to_string())
    }

    /// The KEK that wraps new keys.
    fn current_kek(&self) -> Arc<Kek> {
        self.keks().current.clone()
    }

    /// Learn a KEK; with `current`, new keys are wrapped under it from now on.
    fn add_kek(&self, kek: Kek, current: bool) {
        let kek = Arc::new(kek);
        let mut guard = match self.keks.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.by_id.insert(kek.id().to_owned(), kek.clone());
        if current {
            guard.current = kek;
        }
    }

    /// Sign `claims` with the active key of `alg`; header `typ` as given.
    pub fn sign(&self, alg: Alg, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let set = self.snapshot();
        let key = set.active.get(&alg).ok_or(KeyError::NoActiveKey(alg.as_str()))?;
        let signer = key.signer.as_deref().ok_or(KeyError::NoActiveKey(alg.as_str()))?;
        jwt::sign(signer, &key.kid, typ, claims).map_err(|e| KeyError::Crypto(e.0))
    }

    /// Verify a JWS signed by one of our published keys; returns header `typ`
    /// and the claims. `None` when the signature, kid or alg does not check out.
    pub fn verify(&self, token: &str) -> Option<(Option<String>, Map<String, Value>)> {
        let set = self.snapshot();
        // Entries are whole values: a panic elsewhere cannot leave one
        // half-written. They are `Arc`s so the claims are cloned after the
        // lock is released.
        let hit = set.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(token).cloned();
        if let Some(hit) = hit {
            return Some((*hit).clone());
        }
        let header = jwt::peek_header(token).ok()?;
        let key = set.by_kid.get(header.key_id()?)?;
        // The alg must be the key's own: never let the token choose (RFC 8725 §3.1).
        if header.algorithm()? != key.alg.as_str() {
            return None;
        }
        let (header, claims) = jwt::verify(token, key.verifier.as_ref()).ok()?;
        let verified = (header.token_type().map(str::to_owned), claims);
        let mut kept = set.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= VERIFIED_CAPACITY {
            kept.clear();
        }
        kept.insert(token.to_owned(), Arc::new(verified.clone()));
        Some(verified)
    }

    /// The JWKS document (published keys: next, active, retired).
    pub fn jwks(&self) -> Arc<Value> {
        self.snapshot().jwks.clone()
    }

    /// The JWKS document as served (cheap to clone).
    pub fn jwks_text(&self) -> bytes::Bytes {
        self.snapshot().jwks_text.clone()
    }

    /// Algorithms with an active key, for discovery.
    pub fn active_algs(&self) -> Vec<Alg> {
        let set = self.snapshot();
        Alg::ALL.into_iter().filter(|a| set.active.contains_key(a)).collect()
    }

    /// The kid of the key that signs for `alg` now.
    pub fn active_kid(&self, alg: Alg) -> Option<String> {
        self.snapshot().active.get(&alg).map(|k| k.kid.clone())
    }

    /// The active keys as (algorithm, kid, creation time), for `/metrics`.
    pub fn active_keys(&self) -> Vec<(Alg, String, Timestamp)> {
        let set = self.snapshot();
        Alg::ALL.into_iter().filter_map(|a| set.active.get(&a).map(|k| (a, k.kid.clone(), k.created_at))).collect()
    }

    /// A fresh key in `state`, wrapped under the current KEK.
    async fn new_key(&self, alg: Alg, state: &str, now: Timestamp) -> Result<SigningKey, KeyError> {
        self.finish_generation(self.start_generation(alg), state, now).await
    }

    /// Start generating a key pair on the blocking pool (RSA takes 50 ms to a
    /// second, so it stays off the async threads and several can run at once).
    fn start_generation(&self, alg: Alg) -> Generation {
        let kid = format!("{}-{}", alg.as_str().to_ascii_lowercase(), &crate::crypto::random_id()[..12]);
        let (kid2, bits) = (kid.clone(), self.options.rsa_bits);
        let task = tokio::task::spawn_blocking(move || jwt::generate_with_bits(alg, &kid2, bits));
        Generation { kid, alg, task }
    }

    /// Wait for a generation and wrap the private key under the current KEK.
    async fn finish_generation(&self, g: Generation, state: &str, now: Timestamp) -> Result<SigningKey, KeyError> {
        let Generation { kid, alg, task } = g;
        let generated = task.await.map_err(|e| KeyError::Crypto(e.to_string()))?.map_err(|e| KeyError::Crypto(e.0))?;
        let kek = self.current_kek();
        let private_enc =
            kek.seal(kid.as_bytes(), &generated.private_der).map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(SigningKey {
            kid,
            alg: alg.as_str().to_owned(),
            state: state.to_owned(),
            private_enc,
            kek_id: kek.id().to_owned(),
            public_jwk: generated.public_jwk.to_string(),
            created_at: now,
            activated_at: (state == "active").then_some(now),
            retired_at: None,
        })
    }
}

/// A key pair being generated.
struct Generation {
    kid: String,
    alg: Alg,
    task: tokio::task::JoinHandle<Result<jwt::GeneratedKey, jwt::JwsError>>,
}

fn build(keks: &Keks, keys: &[SigningKey]) -> Result<KeySet, KeyError> {
    let crypto = |e: String| KeyError::Crypto(e);
    let mut by_kid = HashMap::new();
    let mut active = HashMap::new();
    let mut published = Vec::new();
    for k in keys {
        if !matches!(k.state.as_str(), "next" | "active" | "retired") {
            continue;
        }
        let Some(alg) = Alg::parse(&k.alg) else { continue };
        let jwk_map: Map<String, Value> = serde_json::from_str(&k.public_jwk).map_err(|e| crypto(e.to_string()))?;
        let verifier = jwt::verifier_from_public_jwk(alg, &jwk_map).map_err(|e| crypto(e.0))?;
        let signer = if k.state == "active" {
            let kek = keks.by_id.get(&k.kek_id).ok_or_else(|| {
                crypto(format!(
                    "key {} is wrapped by key-encryption key {}, which this node does not have",
                    k.kid, k.kek_id
                ))
            })?;
            let der = kek.open(k.kid.as_bytes(), &k.private_enc).map_err(|e| crypto(e.to_string()))?;
            Some(jwt::signer_from_der(alg, &der).map_err(|e| crypto(e.0))?)
        } else {
            None
        };
        let loaded = Arc::new(LoadedKey { kid: k.kid.clone(), alg, verifier, signer, created_at: k.created_at });
        if k.state == "active" {
            active.insert(alg, loaded.clone());
        }
        by_kid.insert(k.kid.clone(), loaded);
        published.push(Value::Object(jwk_map));
    }
    let jwks = json!({ "keys": published });
    let jwks_text = bytes::Bytes::from(jwks.to_string());
    Ok(KeySet { by_kid, active, jwks: Arc::new(jwks), jwks_text, verified: std::sync::Mutex::default() })
}
