//! The back-channel logout outbox and the clients' logout URIs, on every engine.

use super::fixtures::*;
use crate::store::*;

fn notice(id: &str, client_id: &str, due: Timestamp) -> LogoutNotice {
    LogoutNotice {
        id: id.into(),
        client_id: client_id.into(),
        target_uri: "https://rp.example.vn/backchannel-logout".into(),
        subject: "sub-1".into(),
        sid: "sid-1".into(),
        alg: "RS256".into(),
        attempts: 0,
        next_attempt_at: due,
        lease_until: None,
        delivered_at: None,
        given_up_at: None,
        last_error: None,
        created_at: 1_000,
    }
}

pub(super) async fn logout_outbox(s: &dyn Store) {
    seed(s).await;
    // Logout URIs round-trip through create and update.
    let mut c = s.get_client("cli-1").await.unwrap().unwrap();
    assert_eq!(c.backchannel_logout_uri, None);
    c.backchannel_logout_uri = Some("https://rp.example.vn/bc".into());
    c.frontchannel_logout_uri = Some("https://rp.example.vn/fc".into());
    s.update_client(&c).await.unwrap();
    assert_eq!(s.get_client("cli-1").await.unwrap().unwrap(), c);

    s.enqueue_logout_notices(&[notice("n-1", "cli-1", 1_000), notice("n-2", "cli-1", 5_000)]).await.unwrap();
    // Only due rows are taken, and a taken row is not taken again while leased.
    let taken = s.claim_logout_notices(1_000, 1_030, 10).await.unwrap();
    assert_eq!(taken.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["n-1"]);
    assert_eq!(taken[0].lease_until, Some(1_030));
    assert!(s.claim_logout_notices(1_010, 1_040, 10).await.unwrap().is_empty());
    // A failure reschedules and frees the row; the lease lapsing frees it too.
    s.logout_notice_failed("n-1", 1_030, 1_011, Some(1_012), "connection refused").await.unwrap();
    let again = s.claim_logout_notices(1_012, 1_042, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(s.claim_logout_notices(1_043, 1_073, 10).await.unwrap().len(), 1, "lapsed lease");
    // The worker of the lapsed lease (1_042) records nothing: the row is another's now.
    s.logout_notice_failed("n-1", 1_042, 1_044, Some(1_045), "timed out").await.unwrap();
    assert!(s.claim_logout_notices(1_046, 1_076, 10).await.unwrap().is_empty(), "still leased to the new worker");
    // Delivered rows are never taken again.
    s.logout_notice_delivered("n-1", 1_050).await.unwrap();
    assert!(s.claim_logout_notices(2_000, 2_030, 10).await.unwrap().is_empty());
    // A worker whose lease lapsed and whose send failed does not undo that delivery.
    s.logout_notice_failed("n-1", 1_073, 1_051, Some(1_052), "timed out").await.unwrap();
    assert!(s.claim_logout_notices(2_000, 2_030, 10).await.unwrap().is_empty());
    // Giving up ends the retries.
    let late = s.claim_logout_notices(5_000, 5_030, 10).await.unwrap();
    assert_eq!(late.len(), 1);
    s.logout_notice_failed("n-2", 5_030, 5_001, None, "status 500").await.unwrap();
    assert!(s.claim_logout_notices(9_000, 9_030, 10).await.unwrap().is_empty());
    let all = s.list_logout_notices("cli-1").await.unwrap();
    let n1 = all.iter().find(|n| n.id == "n-1").unwrap();
    assert_eq!((n1.delivered_at, n1.attempts, n1.last_error.as_deref()), (Some(1_050), 2, None));
    let n2 = all.iter().find(|n| n.id == "n-2").unwrap();
    assert_eq!(n2.given_up_at, Some(5_001));
    // Finished notices are purged 30 days after their outcome, not before.
    s.enqueue_logout_notices(&[notice("n-3", "cli-1", 9_000)]).await.unwrap();
    s.purge_expired(1_050 + 30 * 86_400 - 1).await.unwrap();
    assert_eq!(s.list_logout_notices("cli-1").await.unwrap().len(), 3);
    s.purge_expired(5_001 + 30 * 86_400).await.unwrap();
    let left: Vec<_> = s.list_logout_notices("cli-1").await.unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(left, ["n-3"]);
}

pub(super) async fn concurrent_logout_claims(s: &dyn Store) {
    seed(s).await;
    let notices: Vec<_> = (0..20).map(|i| notice(&format!("n-{i:02}"), "cli-1", 1_000)).collect();
    s.enqueue_logout_notices(&notices).await.unwrap();
    // Two "nodes" claiming at once: every row goes to exactly one of them.
    let (a, b) = tokio::join!(s.claim_logout_notices(1_000, 1_030, 20), s.claim_logout_notices(1_000, 1_030, 20));
    let mut ids: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).map(|n| n.id).collect();
    ids.sort();
    assert_eq!(ids.len(), 20);
    ids.dedup();
    assert_eq!(ids.len(), 20);
}
