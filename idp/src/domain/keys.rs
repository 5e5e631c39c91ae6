//! The signing-key ring: every published key in memory, the active key per
//! algorithm, the pre-rendered JWKS. Loaded from the store at start-up (and
//! on reload); private keys are decrypted with the key-encryption key.
//!
//! Lifecycle (DESIGN §5): `next` (published, not signing) → `active` (signs)
//! → `retired` (published until what it signed has expired) → removed;
//! `revoked` leaves the JWKS at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, JwsVerifier};
use serde_json::{Map, Value, json};

use crate::crypto::jwt::{self, Alg};
use crate::crypto::kek::Kek;
use crate::store::{SigningKey, Store, StoreError, Timestamp};

/// Algorithms that always have an active and a next key.
pub const DEFAULT_ALGS: [Alg; 2] = [Alg::Rs256, Alg::Es256];

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
}

/// A published key: public verifier, and a signer when it is active.
struct LoadedKey {
    kid: String,
    alg: Alg,
    verifier: Box<dyn JwsVerifier>,
    signer: Option<Box<dyn JwsSigner>>,
}

/// One consistent snapshot of the keys.
struct KeySet {
    by_kid: HashMap<String, Arc<LoadedKey>>,
    active: HashMap<Alg, Arc<LoadedKey>>,
    jwks: Arc<Value>,
}

/// The keys every request signs and verifies with; swapped atomically on reload.
pub struct Keyring {
    kek: Kek,
    set: RwLock<Arc<KeySet>>,
}

impl Keyring {
    /// Load the keys, first creating an active and a next key for each
    /// default algorithm that lacks them (first start).
    pub async fn open(store: &dyn Store, kek: Kek, now: Timestamp) -> Result<Self, KeyError> {
        let mut keys = store.list_signing_keys().await?;
        for alg in DEFAULT_ALGS {
            for state in ["active", "next"] {
                if !keys.iter().any(|k| k.alg == alg.as_str() && k.state == state) {
                    let key = new_key(&kek, alg, state, now).await?;
                    store.insert_signing_key(&key).await?;
                    keys.push(key);
                }
            }
        }
        let set = build(&kek, &keys)?;
        Ok(Self { kek, set: RwLock::new(Arc::new(set)) })
    }

    /// Re-read the keys from the store (after a rotation on any node).
    pub async fn reload(&self, store: &dyn Store) -> Result<(), KeyError> {
        let keys = store.list_signing_keys().await?;
        let set = build(&self.kek, &keys)?;
        if let Ok(mut guard) = self.set.write() {
            *guard = Arc::new(set);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
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
        let header = jwt::peek_header(token).ok()?;
        let set = self.snapshot();
        let key = set.by_kid.get(header.key_id()?)?;
        // The alg must be the key's own: never let the token choose (RFC 8725 §3.1).
        if header.algorithm()? != key.alg.as_str() {
            return None;
        }
        let (header, claims) = jwt::verify(token, key.verifier.as_ref()).ok()?;
        Some((header.token_type().map(str::to_owned), claims))
    }

    /// The JWKS document (published keys: next, active, retired).
    pub fn jwks(&self) -> Arc<Value> {
        self.snapshot().jwks.clone()
    }

    /// Algorithms with an active key, for discovery.
    pub fn active_algs(&self) -> Vec<Alg> {
        let set = self.snapshot();
        Alg::ALL.into_iter().filter(|a| set.active.contains_key(a)).collect()
    }
}

async fn new_key(kek: &Kek, alg: Alg, state: &str, now: Timestamp) -> Result<SigningKey, KeyError> {
    let kid = format!("{}-{}", alg.as_str().to_ascii_lowercase(), &crate::crypto::random_id()[..12]);
    // RSA generation takes ~50-200 ms: keep it off the async threads.
    let kid2 = kid.clone();
    let generated = tokio::task::spawn_blocking(move || jwt::generate(alg, &kid2))
        .await
        .map_err(|e| KeyError::Crypto(e.to_string()))?
        .map_err(|e| KeyError::Crypto(e.0))?;
    let private_enc = kek.seal(kid.as_bytes(), &generated.private_der).map_err(|e| KeyError::Crypto(e.to_string()))?;
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

fn build(kek: &Kek, keys: &[SigningKey]) -> Result<KeySet, KeyError> {
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
        let jwk = Jwk::from_map(jwk_map.clone()).map_err(|e| crypto(e.to_string()))?;
        let verifier = jwt::verifier_from_jwk(alg, &jwk).map_err(|e| crypto(e.0))?;
        let signer = if k.state == "active" {
            let der = kek.open(k.kid.as_bytes(), &k.private_enc).map_err(|e| crypto(e.to_string()))?;
            Some(jwt::signer_from_der(alg, &der).map_err(|e| crypto(e.0))?)
        } else {
            None
        };
        let loaded = Arc::new(LoadedKey { kid: k.kid.clone(), alg, verifier, signer });
        if k.state == "active" {
            active.insert(alg, loaded.clone());
        }
        by_kid.insert(k.kid.clone(), loaded);
        published.push(Value::Object(jwk_map));
    }
    Ok(KeySet { by_kid, active, jwks: Arc::new(json!({ "keys": published })) })
}
