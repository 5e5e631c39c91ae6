//! The state the router tests run against: an in-memory SQLite store and
//! cache, a test key-encryption key, cheap Argon2 costs.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine as _;

use crate::app::{App, AppState};
use crate::cache::MemoryCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::crypto::password::PasswordHasher;
use crate::domain::keys::Keyring;
use crate::pages::Pages;

/// An app on `clock`, with the default configuration's WebAuthn relying
/// party when `passkeys`.
pub(crate) async fn app(clock: Arc<dyn Clock>, passkeys: bool) -> App {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let kek = Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]), "test").unwrap();
    let keys = Keyring::open(store.as_ref(), kek, clock.now()).await.unwrap();
    let config = Config::default();
    let webauthn = passkeys.then(|| {
        let (rp_id, origins) = config.webauthn().unwrap().unwrap();
        Arc::new(crate::domain::passkeys::relying_party(&rp_id, &origins).unwrap())
    });
    Arc::new(AppState {
        config: Arc::new(config),
        store,
        cache: Arc::new(MemoryCache::new()),
        notifier: Arc::new(crate::cache::NoopNotifier),
        clock,
        keys: Arc::new(keys),
        subjects: Arc::new(crate::domain::oidc::subjects::Subjects::with_key(vec![7; 32])),
        ceremonies: Arc::new(crate::domain::passkeys::CeremonyKey::with_secret(vec![9; 32])),
        pages: Arc::new(Pages::new().unwrap()),
        passwords: PasswordHasher::new(1024, 1, 1).unwrap(),
        http: crate::app::HttpJwks::new(false),
        metrics: Arc::new(crate::metrics::Metrics::new()),
        webauthn,
        places: Arc::default(),
    })
}
