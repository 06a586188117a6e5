//! The checks of the webhooks' outbox: the batch that delivers a PEC message into a box with
//! webhooks leaves one event per webhook, and only if it commits; events are claimed, failed
//! and delivered as the dispatcher needs, and go with their webhook. Helpers are shared with
//! [`super`].

use super::{NOW, assert_not_found, event, fresh, fresh_domain, fresh_mailbox, message, ok};
use crate::{Batch, Store, WebhookEvent};

/// How far a claim pushes the events it takes.
const LEASE: i64 = 60;

/// Every event a claim at `now` takes.
async fn claim_all(store: &dyn Store, now: i64) -> Vec<WebhookEvent> {
    ok(
        store.claim_webhook_events(now, now + LEASE, 1000).await,
        "claiming webhook events",
    )
}

/// The events of `mailbox` a claim at `now` takes (a claim takes every box's due events: no
/// other check leaves any behind).
async fn claim(store: &dyn Store, mailbox: &str, now: i64) -> Vec<WebhookEvent> {
    let mut taken = claim_all(store, now).await;
    taken.retain(|e| e.webhook.mailbox == mailbox);
    taken
}

/// (webhook id, folder, uid, kind, identificativo, received_at, attempts) of each event.
type Seen = (i64, String, u32, String, Option<String>, i64, u32);

fn seen(events: &[WebhookEvent]) -> Vec<Seen> {
    let mut seen: Vec<Seen> = events
        .iter()
        .map(|e| {
            (
                e.webhook.id,
                e.folder.clone(),
                e.uid,
                e.kind.clone(),
                e.identificativo.clone(),
                e.received_at,
                e.attempts,
            )
        })
        .collect();
    seen.sort();
    seen
}

/// A batch delivering `id` as a PEC message into `mailbox`'s `folder`, logged at `NOW`.
fn pec_delivery(mailbox: &str, folder: &str, id: &str) -> Batch {
    Batch {
        deliveries: vec![message(mailbox, folder, 10, id)],
        log: vec![event(NOW, "consegna", id)],
        ..Batch::default()
    }
}

/// A delivered PEC message gives one event per webhook of its box, due at once, carrying
/// where it landed; a message without a kind and a box without webhooks give none. A claim
/// hides what it took until its lease ends; a failure counts an attempt and sets the next
/// one; a delivered or given-up event never comes back; deleting a webhook deletes its
/// events.
pub async fn webhook_events(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let quiet = fresh_mailbox(store, 0).await;
    let url = "https://gestionale.example/pec";
    let w1 = ok(store.create_webhook(&mailbox, url, "s1", NOW).await, "w1");
    let w2 = ok(store.create_webhook(&mailbox, url, "s2", NOW).await, "w2");
    let id = fresh("evento");
    let mut batch = pec_delivery(&mailbox.to_ascii_uppercase(), "inbox", &id);
    let mut plain = message(&mailbox, "INBOX", 5, &fresh("semplice"));
    plain.kind = None;
    batch.deliveries.push(plain);
    batch.deliveries.push(message(&quiet, "INBOX", 5, &id));
    ok(store.commit(batch).await, "delivering");
    let uid = ok(store.messages(&mailbox, "INBOX").await, "listing")[0].uid;

    let expected = |attempts: u32| -> Vec<Seen> {
        [w1, w2]
            .map(|w| {
                (
                    w,
                    "INBOX".to_string(),
                    uid,
                    "posta-certificata".to_string(),
                    Some(id.clone()),
                    NOW,
                    attempts,
                )
            })
            .to_vec()
    };
    let taken = claim_all(store, NOW).await;
    assert!(
        taken.iter().all(|e| e.webhook.mailbox != quiet),
        "no webhooks, no events"
    );
    let taken: Vec<WebhookEvent> = taken
        .into_iter()
        .filter(|e| e.webhook.mailbox == mailbox)
        .collect();
    assert_eq!(seen(&taken), expected(0), "one event per webhook");
    assert!(
        taken.iter().all(|e| e.webhook.url == url),
        "the event carries its webhook"
    );
    assert_eq!(
        claim(store, &mailbox, NOW + LEASE - 1).await,
        [],
        "claimed events are not taken again during the lease"
    );
    let again = claim(store, &mailbox, NOW + LEASE).await;
    assert_eq!(seen(&again), expected(0), "due again once the lease ends");
    let (e1, e2) = if again[0].webhook.id == w1 {
        (again[0].id, again[1].id)
    } else {
        (again[1].id, again[0].id)
    };

    let later = NOW + 3 * LEASE;
    ok(
        store
            .webhook_event_failed(e1, Some(later), "answered 500")
            .await,
        "a failure",
    );
    ok(store.webhook_event_delivered(e2).await, "a delivery");
    ok(store.webhook_event_delivered(e2).await, "a delivery again");
    assert_eq!(claim(store, &mailbox, later - 1).await, [], "not yet due");
    let retried = claim(store, &mailbox, later).await;
    assert_eq!(
        retried
            .iter()
            .map(|e| (e.id, e.attempts))
            .collect::<Vec<_>>(),
        [(e1, 1)],
        "the failed one is due again, the delivered one is gone"
    );
    ok(
        store.webhook_event_failed(e1, None, "answered 500").await,
        "giving up",
    );
    ok(
        store.webhook_event_failed(e1, Some(later), "late").await,
        "a failure of an event gone",
    );
    assert_eq!(
        claim(store, &mailbox, later + 10 * LEASE).await,
        [],
        "given up"
    );

    // Deleting a webhook deletes its pending events.
    ok(
        store
            .commit(pec_delivery(&mailbox, "INBOX", &fresh("evento")))
            .await,
        "delivering again",
    );
    ok(store.delete_webhook(&mailbox, w1).await, "deleting w1");
    let left = claim(store, &mailbox, NOW).await;
    assert_eq!(
        left.iter().map(|e| e.webhook.id).collect::<Vec<_>>(),
        [w2],
        "only w2's event is left"
    );
    ok(store.webhook_event_delivered(left[0].id).await, "clean up");
}

/// A batch that fails leaves no event, and a delivery that creates its folder names it as
/// stored.
pub async fn webhook_events_need_a_commit(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    ok(
        store
            .create_webhook(&mailbox, "https://gestionale.example/pec", "s", NOW)
            .await,
        "a webhook",
    );
    let mut bad = pec_delivery(&mailbox, "INBOX", &fresh("fallito"));
    bad.deliveries.push(message(
        &format!("nessuno@{}", fresh_domain()),
        "INBOX",
        1,
        "x",
    ));
    assert_not_found(store.commit(bad).await, "delivering to a missing mailbox");
    assert_eq!(
        claim(store, &mailbox, NOW + 10 * LEASE).await,
        [],
        "the failed batch left no event"
    );

    ok(
        store
            .commit(pec_delivery(&mailbox, "Ricevute/2023", &fresh("ok")))
            .await,
        "delivering into a new folder",
    );
    let taken = claim(store, &mailbox, NOW).await;
    assert_eq!(
        taken
            .iter()
            .map(|e| (e.folder.as_str(), e.uid))
            .collect::<Vec<_>>(),
        [("Ricevute/2023", 1)]
    );
    ok(store.webhook_event_delivered(taken[0].id).await, "clean up");
}
