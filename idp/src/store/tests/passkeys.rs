//! Passkeys and the client's minimum acr, on every engine.

use super::fixtures::*;
use crate::store::*;

fn passkey(id: &str, account_id: &str, credential_id: &str, created_at: Timestamp) -> StoredPasskey {
    StoredPasskey {
        id: id.into(),
        account_id: account_id.into(),
        credential_id: credential_id.into(),
        passkey: format!(r#"{{"cred":{{"cred_id":"{credential_id}"}}}}"#),
        name: format!("Khóa {id}"),
        created_at,
        last_used_at: None,
        sign_count: 0,
        backup_eligible: true,
        backup_state: false,
        device: Some("Chrome on Android".into()),
    }
}

pub(super) async fn passkeys(s: &dyn Store) {
    seed(s).await;
    s.create_citizen(&citizen("acc-2", "001090000002", None), None).await.unwrap();
    let first = passkey("pk-1", "acc-1", "Y3JlZC0x", 2_000);
    s.create_passkey(&first).await.unwrap();
    s.create_passkey(&passkey("pk-2", "acc-1", "Y3JlZC0y", 3_000)).await.unwrap();
    s.create_passkey(&passkey("pk-3", "acc-2", "Y3JlZC0z", 1_000)).await.unwrap();
    // A credential id belongs to one account only, and passkeys need an account.
    assert_eq!(conflict_field(s.create_passkey(&passkey("pk-4", "acc-2", "Y3JlZC0x", 4_000)).await), "credential_id");
    assert!(matches!(s.create_passkey(&passkey("pk-5", "ghost", "Z2hvc3Q", 4_000)).await, Err(StoreError::NotFound)));

    let ids = |list: Vec<StoredPasskey>| list.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_passkeys("acc-1").await.unwrap()), ["pk-1", "pk-2"]);
    assert_eq!(ids(s.list_passkeys("acc-2").await.unwrap()), ["pk-3"]);
    assert!(s.list_passkeys("nobody").await.unwrap().is_empty());
    assert_eq!(s.find_passkey_by_credential("Y3JlZC0x").await.unwrap(), Some(first.clone()));
    assert_eq!(s.find_passkey_by_credential("bm9uZQ").await.unwrap(), None);

    // A sign-in records counter, flags and time.
    let used = StoredPasskey {
        passkey: r#"{"cred":{"counter":7}}"#.into(),
        sign_count: 7,
        backup_eligible: true,
        backup_state: true,
        last_used_at: Some(5_000),
        ..first.clone()
    };
    s.update_passkey_use(&used).await.unwrap();
    assert_eq!(s.find_passkey_by_credential("Y3JlZC0x").await.unwrap(), Some(used));
    let gone = passkey("pk-9", "acc-1", "Z29uZQ", 1);
    assert!(matches!(s.update_passkey_use(&gone).await, Err(StoreError::NotFound)));

    // Rename and delete only touch the account's own passkeys.
    s.rename_passkey("acc-1", "pk-2", "Điện thoại").await.unwrap();
    assert_eq!(s.list_passkeys("acc-1").await.unwrap()[1].name, "Điện thoại");
    assert!(matches!(s.rename_passkey("acc-2", "pk-2", "x").await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_passkey("acc-2", "pk-2", false).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_passkey("acc-2", "pk-3", true).await, Err(StoreError::Conflict("last_passkey"))));
    assert_eq!(ids(s.list_passkeys("acc-2").await.unwrap()), ["pk-3"]);
    s.delete_passkey("acc-1", "pk-1", true).await.unwrap();
    assert!(matches!(s.delete_passkey("acc-1", "pk-2", true).await, Err(StoreError::Conflict("last_passkey"))));
    s.delete_passkey("acc-1", "pk-2", false).await.unwrap();
    assert!(s.list_passkeys("acc-1").await.unwrap().is_empty());
    assert_eq!(s.find_passkey_by_credential("Y3JlZC0x").await.unwrap(), None);

    // The client's minimum acr round-trips and defaults to LoA1.
    assert_eq!(s.get_client("cli-1").await.unwrap().unwrap().minimum_acr, "LoA1");
    let strict = Client { minimum_acr: "LoA2".into(), ..client("cli-1", "org-1") };
    s.update_client(&strict).await.unwrap();
    assert_eq!(s.get_client("cli-1").await.unwrap().unwrap().minimum_acr, "LoA2");
}

/// Two deletions racing for an account's last two passkeys: one of them is refused.
pub(super) async fn concurrent_passkey_deletion(s: &dyn Store) {
    seed(s).await;
    for round in 0..5 {
        let (a, b) = (format!("pk-a{round}"), format!("pk-b{round}"));
        s.create_passkey(&passkey(&a, "acc-1", &format!("YQ{round}"), 1)).await.unwrap();
        s.create_passkey(&passkey(&b, "acc-1", &format!("Yg{round}"), 2)).await.unwrap();
        let (ra, rb) = tokio::join!(s.delete_passkey("acc-1", &a, true), s.delete_passkey("acc-1", &b, true));
        assert_eq!(u8::from(ra.is_ok()) + u8::from(rb.is_ok()), 1, "round {round}: {ra:?} {rb:?}");
        assert_eq!(s.list_passkeys("acc-1").await.unwrap().len(), 1);
        let left = s.list_passkeys("acc-1").await.unwrap().remove(0);
        s.delete_passkey("acc-1", &left.id, false).await.unwrap();
    }
}
