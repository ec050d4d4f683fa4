//! One suite, run over both backends: a SQLite file in a temporary
//! directory, and a fresh schema on the PostgreSQL server (skipped loudly
//! when it is absent, unless `TRAWL_REQUIRE_SERVICES=1`).

use std::sync::Arc;

use trawl_store::testing::{PostgresSchema, fresh_postgres};
use trawl_store::*;

/// A store, and what must live as long as it does.
struct Under {
    store: Arc<SqlStore>,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PostgresSchema>,
}

async fn backends(test: &str) -> Vec<Under> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::open(&StoreSettings::sqlite(dir.path().join("trawl.db")))
        .await
        .expect("the SQLite store opens");
    let mut all = vec![Under {
        store: Arc::new(sqlite),
        name: "sqlite",
        _dir: Some(dir),
        _schema: None,
    }];
    if let Some(schema) = fresh_postgres(test).await {
        let store = SqlStore::open(&StoreSettings::url(&schema.url))
            .await
            .expect("the PostgreSQL store opens");
        all.push(Under {
            store: Arc::new(store),
            name: "postgresql",
            _dir: None,
            _schema: Some(schema),
        });
    }
    all
}

fn new_job(key_id: Option<i64>, idempotency_key: Option<&str>, payload: &[u8]) -> NewJob {
    NewJob {
        kind: JobKind::Documents,
        key_id,
        idempotency_key: idempotency_key.map(str::to_owned),
        fingerprint: payload.to_vec(),
        max_attempts: 3,
        total: 2,
        skipped: 1,
        errors: r#"[{"line":2}]"#.to_owned(),
        errors_total: 1,
        payload: payload.to_vec(),
        created_at: 1_000,
        traceparent: None,
        source_id: None,
    }
}

fn inserted(result: Inserted) -> JobRecord {
    match result {
        Inserted::New(job) => job,
        Inserted::Existing(job) => panic!("expected a new job, got existing {}", job.id),
    }
}

async fn published_job(store: &SqlStore, payload: &[u8]) -> JobRecord {
    let job = inserted(
        store
            .insert_job(new_job(None, None, payload))
            .await
            .unwrap(),
    );
    store.set_published(job.id).await.unwrap();
    job
}

#[tokio::test]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/trawl.db");
    let store = SqlStore::open(&StoreSettings::sqlite(&path)).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    // Twice, and twice at once: the second finds the work done.
    let settings = StoreSettings::sqlite(&path);
    let (a, b) = tokio::join!(SqlStore::open(&settings), SqlStore::open(&settings));
    a.unwrap().close().await;
    b.unwrap().close().await;

    for under in backends("migrations").await {
        let url = match under.name {
            "sqlite" => format!(
                "sqlite://{}",
                under
                    ._dir
                    .as_ref()
                    .unwrap()
                    .path()
                    .join("trawl.db")
                    .display()
            ),
            _ => under._schema.as_ref().unwrap().url.clone(),
        };
        let settings = StoreSettings::url(&url);
        let (a, b) = tokio::join!(SqlStore::open(&settings), SqlStore::open(&settings));
        a.unwrap_or_else(|e| panic!("{}: {e}", under.name));
        b.unwrap_or_else(|e| panic!("{}: {e}", under.name));
        // A newer trawl was here.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO trawl_schema (version, applied_at) VALUES ($1, 0)")
            .bind(SCHEMA_VERSION + 1)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let error = SqlStore::open(&StoreSettings::url(&url)).await.unwrap_err();
        assert!(
            matches!(error, StoreError::NewerSchema { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
            "{}: {error}",
            under.name
        );
        assert!(error.to_string().contains("upgrade trawl"), "{error}");
    }
}

#[tokio::test]
async fn a_bad_url_and_an_unreachable_server_are_told_apart() {
    let error = SqlStore::open(&StoreSettings::url("mysql://x/y"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::BadUrl(_)), "{error}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = StoreSettings::url(format!("postgres://postgres@{closed}/test"));
    settings.acquire_timeout = std::time::Duration::from_millis(500);
    let error = SqlStore::open(&settings).await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    // Lazily, the store exists and its calls fail the same way; once it
    // knows the server is away, they fail at once for a while.
    let lazy = SqlStore::connect_lazy(&settings).unwrap();
    let first = lazy.ping().await.unwrap_err();
    assert!(first.is_transient(), "{first}");
    let again = lazy.keys().await.unwrap_err();
    assert!(
        again.is_transient() && again.to_string().contains("trying again 1 s after"),
        "{again}"
    );
}

#[tokio::test]
async fn keys_are_added_found_listed_and_revoked() {
    for Under { store, name, .. } in backends("keys").await {
        let key = store
            .insert_key(NewKey {
                name: "ci".into(),
                prefix: "abc123".into(),
                hash: vec![1, 2, 3],
                created_at: 10,
            })
            .await
            .unwrap();
        assert_eq!((key.name.as_str(), key.revoked_at), ("ci", None), "{name}");
        let duplicate = store
            .insert_key(NewKey {
                name: "ci".into(),
                prefix: "other".into(),
                hash: vec![],
                created_at: 11,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(duplicate, StoreError::Duplicate(_)),
            "{name}: {duplicate}"
        );
        store
            .insert_key(NewKey {
                name: "second".into(),
                prefix: "def456".into(),
                hash: vec![9],
                created_at: 12,
            })
            .await
            .unwrap();
        assert_eq!(
            store.key_by_prefix("abc123").await.unwrap().unwrap().hash,
            vec![1, 2, 3]
        );
        assert!(store.key_by_prefix("nope").await.unwrap().is_none());
        store.key_used(key.id, 50).await.unwrap();
        let names: Vec<_> = store
            .keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(names, ["ci", "second"], "{name}");
        let revoked = store.revoke_key("ci", 100).await.unwrap().unwrap();
        assert_eq!(
            (revoked.revoked_at, revoked.last_used_at),
            (Some(100), Some(50))
        );
        let again = store.revoke_key("abc123", 200).await.unwrap().unwrap();
        assert_eq!(
            again.revoked_at,
            Some(100),
            "{name}: revoking twice keeps the first time"
        );
        assert!(store.revoke_key("missing", 1).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn jobs_are_listed_once_published_and_idempotency_keys_find_their_job() {
    for Under { store, name, .. } in backends("jobs").await {
        let first = inserted(
            store
                .insert_job(new_job(Some(1), Some("retry-me"), b"payload"))
                .await
                .unwrap(),
        );
        assert_eq!(
            (
                first.state,
                first.published,
                first.attempts,
                first.total,
                first.skipped
            ),
            (JobState::Queued, false, 0, 2, 1),
            "{name}"
        );
        assert!(
            store.jobs(None, None, 10).await.unwrap().is_empty(),
            "{name}: unpublished"
        );
        store.set_published(first.id).await.unwrap();
        assert_eq!(store.jobs(None, None, 10).await.unwrap()[0].id, first.id);
        assert_eq!(store.payload(first.id).await.unwrap().unwrap(), b"payload");

        // The same key and idempotency key: the same job, nothing added.
        match store
            .insert_job(new_job(Some(1), Some("retry-me"), b"other"))
            .await
            .unwrap()
        {
            Inserted::Existing(job) => assert_eq!(job.id, first.id, "{name}"),
            Inserted::New(_) => panic!("{name}: a second job for one idempotency key"),
        }
        // Another key may use the same idempotency key.
        let other = inserted(
            store
                .insert_job(new_job(Some(2), Some("retry-me"), b"x"))
                .await
                .unwrap(),
        );
        assert_ne!(other.id, first.id);
        // Without one, every submission is a job.
        let a = inserted(
            store
                .insert_job(new_job(Some(1), None, b"a"))
                .await
                .unwrap(),
        );
        let b = inserted(
            store
                .insert_job(new_job(Some(1), None, b"b"))
                .await
                .unwrap(),
        );
        assert_ne!(a.id, b.id);

        // Never published: discarded, or purged when old.
        store.discard_unpublished(a.id).await.unwrap();
        assert!(store.job(a.id).await.unwrap().is_none(), "{name}");
        assert!(store.payload(a.id).await.unwrap().is_none(), "{name}");
        store.discard_unpublished(first.id).await.unwrap();
        assert!(
            store.job(first.id).await.unwrap().is_some(),
            "{name}: published jobs stay"
        );
        assert_eq!(store.purge_unpublished(999).await.unwrap(), 0);
        assert_eq!(store.purge_unpublished(1_001).await.unwrap(), 2, "{name}");
        assert!(store.job(b.id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn concurrent_submissions_with_one_idempotency_key_make_one_job() {
    for Under { store, name, .. } in backends("idempotent_race").await {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.insert_job(new_job(Some(7), Some("same"), b"p")).await },
                )
            })
            .collect();
        let mut new = 0;
        let mut ids = Vec::new();
        for task in tasks {
            match task
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
            {
                Inserted::New(job) => {
                    new += 1;
                    ids.push(job.id);
                }
                Inserted::Existing(job) => ids.push(job.id),
            }
        }
        ids.dedup();
        assert_eq!((new, ids.len()), (1, 1), "{name}");
    }
}

#[tokio::test]
async fn a_job_runs_finishes_and_can_be_cancelled_only_while_queued() {
    for Under { store, name, .. } in backends("lifecycle").await {
        let job = published_job(&store, b"p").await;
        let Start::Started(running) = store.start_job(job.id, 5_000, 2_000).await.unwrap() else {
            panic!("{name}: not started")
        };
        assert_eq!(
            (
                running.state,
                running.attempts,
                running.started_at,
                running.lease_until
            ),
            (JobState::Running, 1, Some(2_000), Some(5_000))
        );
        match store.cancel_job(job.id, 2_500).await.unwrap() {
            Cancel::TooLate(job) => assert_eq!(job.state, JobState::Running, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        store.progress(job.id, 1, 9_000).await.unwrap();
        let progressed = store.job(job.id).await.unwrap().unwrap();
        assert_eq!((progressed.done, progressed.lease_until), (1, Some(9_000)));

        // A failed run goes back to the queue; the next start counts.
        store
            .finish_job(
                job.id,
                Finish::Retry {
                    error: "disk full".into(),
                },
                3_000,
            )
            .await
            .unwrap();
        let retried = store.job(job.id).await.unwrap().unwrap();
        assert_eq!(
            (retried.state, retried.last_error.as_deref()),
            (JobState::Queued, Some("disk full")),
            "{name}"
        );
        let Start::Started(again) = store.start_job(job.id, 6_000, 4_000).await.unwrap() else {
            panic!()
        };
        assert_eq!(again.attempts, 2);
        store
            .finish_job(
                job.id,
                Finish::Succeeded {
                    added: 1,
                    replaced: 1,
                    deleted: 0,
                    kept: 1,
                },
                5_000,
            )
            .await
            .unwrap();
        let done = store.job(job.id).await.unwrap().unwrap();
        assert_eq!(
            (
                done.state,
                done.added,
                done.replaced,
                done.kept,
                done.done,
                done.finished_at,
                done.lease_until
            ),
            (JobState::Succeeded, 1, 1, 1, 2, Some(5_000), None),
            "{name}"
        );
        assert!(
            store.payload(job.id).await.unwrap().is_none(),
            "{name}: payload dropped"
        );
        // Delivered again after it finished (a lost acknowledgement): left alone.
        assert!(matches!(
            store.start_job(job.id, 9_000, 9_000).await.unwrap(),
            Start::Finished(j) if j.state == JobState::Succeeded
        ));
        assert_eq!(
            store.start_job(999_999, 1, 1).await.unwrap(),
            Start::NotFound
        );

        // Failing for good.
        let failing = published_job(&store, b"q").await;
        store.start_job(failing.id, 1, 1).await.unwrap();
        store
            .finish_job(
                failing.id,
                Finish::Failed {
                    error: "unreadable".into(),
                },
                7,
            )
            .await
            .unwrap();
        let failed = store.job(failing.id).await.unwrap().unwrap();
        assert_eq!(
            (failed.state, failed.finished_at),
            (JobState::Failed, Some(7))
        );

        // Cancelling a queued job.
        let queued = published_job(&store, b"r").await;
        match store.cancel_job(queued.id, 8).await.unwrap() {
            Cancel::Cancelled(job) => {
                assert_eq!((job.state, job.finished_at), (JobState::Cancelled, Some(8)));
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(store.payload(queued.id).await.unwrap().is_none());
        assert!(matches!(
            store.start_job(queued.id, 1, 1).await.unwrap(),
            Start::Finished(j) if j.state == JobState::Cancelled
        ));
        assert_eq!(
            store.cancel_job(424_242, 1).await.unwrap(),
            Cancel::NotFound
        );
        let hidden = inserted(store.insert_job(new_job(None, None, b"h")).await.unwrap());
        assert_eq!(
            store.cancel_job(hidden.id, 1).await.unwrap(),
            Cancel::NotFound,
            "{name}"
        );

        let mut counts = Vec::new();
        for state in JobState::ALL {
            counts.push(in_state(&store, state).await.len());
        }
        assert_eq!(counts, [0, 0, 1, 1, 1], "{name}: queued … cancelled");

        // Finished jobs go once old enough; a queued one never.
        let waiting = published_job(&store, b"w").await;
        assert_eq!(store.purge_finished(7).await.unwrap(), 0, "{name}");
        assert_eq!(
            store.purge_finished(8).await.unwrap(),
            1,
            "{name}: the one that failed at 7"
        );
        assert_eq!(store.purge_finished(i64::MAX).await.unwrap(), 2, "{name}");
        let left: Vec<i64> = store
            .jobs(None, None, 100)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, [waiting.id], "{name}");
    }
}

async fn in_state(store: &SqlStore, state: JobState) -> Vec<JobRecord> {
    store.jobs(Some(state), None, 1_000).await.unwrap()
}

#[tokio::test]
async fn running_jobs_whose_lease_ran_out_are_queued_again() {
    for Under { store, name, .. } in backends("requeue").await {
        let a = published_job(&store, b"a").await;
        let b = published_job(&store, b"b").await;
        store.start_job(a.id, 1_000, 1).await.unwrap();
        store.start_job(b.id, 5_000, 1).await.unwrap();
        assert_eq!(store.requeue_expired(2_000).await.unwrap(), 1, "{name}");
        assert_eq!(
            store.job(a.id).await.unwrap().unwrap().state,
            JobState::Queued
        );
        assert_eq!(
            store.job(b.id).await.unwrap().unwrap().state,
            JobState::Running
        );
        let queued = in_state(&store, JobState::Queued).await;
        assert_eq!(
            queued
                .iter()
                .map(|j| (j.id, j.created_at))
                .collect::<Vec<_>>(),
            [(a.id, 1_000)],
            "{name}"
        );
        assert_eq!(in_state(&store, JobState::Running).await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn jobs_page_newest_first_by_state() {
    for Under { store, name, .. } in backends("paging").await {
        let mut ids = Vec::new();
        for i in 0..5u8 {
            ids.push(published_job(&store, &[i]).await.id);
        }
        store.start_job(ids[1], 10, 1).await.unwrap();
        let page: Vec<i64> = store
            .jobs(None, None, 2)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(page, [ids[4], ids[3]], "{name}");
        let next: Vec<i64> = store
            .jobs(None, Some(ids[3]), 2)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(next, [ids[2], ids[1]]);
        let running: Vec<i64> = store
            .jobs(Some(JobState::Running), None, 10)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(running, [ids[1]], "{name}");
        let queued = store
            .jobs(Some(JobState::Queued), Some(ids[2]), 10)
            .await
            .unwrap();
        assert_eq!(queued.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[0]]);
    }
}

#[tokio::test]
async fn queue_messages_are_leased_to_one_owner_released_delayed_and_buried() {
    for Under { store, name, .. } in backends("queue").await {
        let (q, other) = ("jobs", "other-queue");
        let m1 = store.push_message(q, 11, 0).await.unwrap();
        let m2 = store.push_message(q, 12, 0).await.unwrap();
        store.push_message(other, 99, 0).await.unwrap();
        let later = store.push_message(q, 13, 10_000).await.unwrap();

        let first = store
            .claim_message(q, "w1", 100, 1_100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.id, first.job_id, first.delivery),
            (m1, 11, 1),
            "{name}: oldest first"
        );
        let second = store
            .claim_message(q, "w2", 100, 1_100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.id, m2, "{name}: a leased message is not given twice");
        assert!(
            store
                .claim_message(q, "w3", 200, 1_200)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );

        let stats = store.queue_stats(q, 200).await.unwrap();
        assert_eq!(
            (stats.waiting, stats.leased, stats.dead),
            (1, 2, 0),
            "{name}"
        );
        assert!(stats.oldest_ms.is_some());

        // Only the owner extends; a lease that ran out is taken again.
        assert!(store.extend_message(m1, "w1", 5_000).await.unwrap());
        assert!(
            !store.extend_message(m2, "w1", 5_000).await.unwrap(),
            "{name}"
        );
        let retaken = store
            .claim_message(q, "w3", 1_100, 2_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (retaken.id, retaken.delivery),
            (m2, 2),
            "{name}: redelivered"
        );
        assert!(
            !store.extend_message(m2, "w2", 9_000).await.unwrap(),
            "w2 lost it"
        );

        // Acknowledged, delayed, buried.
        store.delete_message(m1).await.unwrap();
        store.delay_message(m2, 3_000, "try later").await.unwrap();
        assert!(
            store
                .claim_message(q, "w1", 2_500, 2_600)
                .await
                .unwrap()
                .is_none()
        );
        let delayed = store
            .claim_message(q, "w1", 3_000, 4_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(delayed.id, m2);
        store.bury_message(m2, "poison").await.unwrap();
        let stats = store.queue_stats(q, 3_000).await.unwrap();
        assert_eq!(
            (stats.waiting, stats.leased, stats.dead),
            (1, 0, 1),
            "{name}"
        );

        // A new sole worker releases what a dead one held.
        let held = store
            .claim_message(q, "dead-worker", 20_000, 90_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.id, later);
        assert!(
            store
                .claim_message(q, "w1", 20_000, 21_000)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(store.release_messages(q).await.unwrap(), 1, "{name}");
        assert_eq!(
            store
                .claim_message(q, "w1", 20_000, 21_000)
                .await
                .unwrap()
                .unwrap()
                .id,
            later
        );
        // The other queue was never touched.
        assert_eq!(
            store.queue_stats(other, 0).await.unwrap().waiting,
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_claimers_take_each_message_exactly_once() {
    for Under { store, name, .. } in backends("claim_race").await {
        for job in 0..60 {
            store.push_message("race", job, 0).await.unwrap();
        }
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let owner = format!("w{w}");
                    let mut got = Vec::new();
                    while let Some(m) = store
                        .claim_message("race", &owner, 1, i64::MAX)
                        .await
                        .expect("claims succeed")
                    {
                        got.push(m.job_id);
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        all.sort();
        assert_eq!(all, (0..60).collect::<Vec<i64>>(), "{name}");
    }
}

fn new_source(next_run_at: Option<Millis>) -> NewSource {
    NewSource {
        kind: "sitemap".to_owned(),
        spec: r#"{"kind":"sitemap","url":"https://example.org/sitemap.xml"}"#.to_owned(),
        refresh_ms: Some(60_000),
        next_run_at,
        created_at: 1_000,
    }
}

fn crawl_job() -> NewJob {
    NewJob {
        kind: JobKind::Crawl,
        total: 0,
        skipped: 0,
        errors: "[]".to_owned(),
        errors_total: 0,
        ..new_job(None, None, b"1")
    }
}

#[tokio::test]
async fn sources_change_only_from_the_version_they_were_read_at() {
    for under in backends("sources_versions").await {
        let store = &under.store;
        let source = store.insert_source(new_source(Some(5_000))).await.unwrap();
        assert_eq!((source.version, source.pages), (1, 0), "{}", under.name);
        let change = |expected: Option<i64>, spec: &str| SourceChange {
            expected_version: expected,
            kind: "feed".to_owned(),
            spec: spec.to_owned(),
            refresh_ms: None,
            next_run_at: None,
            at: 2_000,
        };
        let SourceUpdate::Updated(updated) = store
            .update_source(source.id, change(Some(1), "{}"))
            .await
            .unwrap()
        else {
            panic!("{}: the first change from version 1 applies", under.name)
        };
        assert_eq!((updated.version, updated.kind.as_str()), (2, "feed"));
        assert_eq!(updated.updated_at, 2_000);
        let stale = store
            .update_source(source.id, change(Some(1), "{\"lost\":1}"))
            .await
            .unwrap();
        assert!(
            matches!(&stale, SourceUpdate::Stale(now) if now.version == 2 && now.spec == "{}"),
            "{}: {stale:?}",
            under.name
        );
        assert!(matches!(
            store.update_source(source.id, change(None, "{}")).await.unwrap(),
            SourceUpdate::Updated(s) if s.version == 3
        ));
        assert_eq!(
            store.update_source(999, change(None, "{}")).await.unwrap(),
            SourceUpdate::NotFound
        );
        let second = store.insert_source(new_source(None)).await.unwrap();
        let page: Vec<i64> = store
            .sources(Some(source.id), 10)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(page, [second.id], "{}", under.name);
    }
}

#[tokio::test]
async fn of_two_claims_from_one_reading_one_makes_the_crawl() {
    for under in backends("sources_claims").await {
        let store = &under.store;
        let source = store.insert_source(new_source(Some(5_000))).await.unwrap();
        assert!(store.due_sources(4_999, 10).await.unwrap().is_empty());
        let due = store.due_sources(5_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{}", under.name);
        let seq = due[0].crawl_seq;
        let (a, b) = tokio::join!(
            store.claim_crawl(source.id, seq, crawl_job(), Some(65_000)),
            store.claim_crawl(source.id, seq, crawl_job(), Some(65_000)),
        );
        let made: Vec<JobRecord> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(made.len(), 1, "{}: exactly one claim wins", under.name);
        let now = store.source(source.id).await.unwrap().unwrap();
        assert_eq!(now.crawl_job, Some(made[0].id));
        assert_eq!(now.next_run_at, Some(65_000));
        assert!(store.due_sources(64_999, 10).await.unwrap().is_empty());
        assert_eq!(
            store.payload(made[0].id).await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(made[0].kind, JobKind::Crawl);
    }
}

#[tokio::test]
async fn pages_and_runs_are_recorded_replaced_and_leave_with_their_source() {
    for under in backends("sources_pages").await {
        let store = &under.store;
        let source = store.insert_source(new_source(None)).await.unwrap();
        let page = |url: &str, doc: Option<&str>, job: i64| PageRecord {
            url: url.to_owned(),
            doc_id: doc.map(str::to_owned),
            etag: Some("\"e\"".to_owned()),
            last_modified: None,
            hash: vec![1, 2, 3],
            seen_job: job,
            fetched_at: 7,
            links: doc.map(|_| "https://a/2\nhttps://a/3".to_owned()),
            has_links: false,
        };
        store
            .put_pages(
                source.id,
                &[
                    page("https://a/1", Some("https://a/1"), 1),
                    page("https://a/2", None, 1),
                ],
            )
            .await
            .unwrap();
        store
            .put_pages(source.id, &[page("https://a/1", Some("https://a/1"), 2)])
            .await
            .unwrap();
        let mut pages = store.pages(source.id).await.unwrap();
        pages.sort_by(|a, b| a.url.cmp(&b.url));
        assert_eq!(pages.len(), 2, "{}", under.name);
        assert_eq!(pages[0].seen_job, 2);
        // A site's page keeps the links it had, read one page at a time;
        // a record without links keeps those recorded before.
        assert!(pages[0].has_links && !pages[1].has_links, "{}", under.name);
        assert_eq!(
            pages[0].links, None,
            "not read with the pages: {}",
            under.name
        );
        store
            .put_pages(
                source.id,
                &[PageRecord {
                    links: None,
                    ..page("https://a/1", Some("https://a/1"), 3)
                }],
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .page_links(source.id, "https://a/1")
                .await
                .unwrap()
                .as_deref(),
            Some("https://a/2\nhttps://a/3"),
            "{}",
            under.name
        );
        assert_eq!(
            store.page_links(source.id, "https://a/2").await.unwrap(),
            None
        );
        assert_eq!(
            store
                .page_links(source.id, "https://nowhere/")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.pending_jobs(source.id).await.unwrap(),
            0,
            "{}",
            under.name
        );
        assert_eq!(store.source(source.id).await.unwrap().unwrap().pages, 1);
        store
            .delete_pages(source.id, &["https://a/2".to_owned()])
            .await
            .unwrap();
        assert_eq!(store.pages(source.id).await.unwrap().len(), 1);
        for (job, state) in [(1, "succeeded"), (2, "running"), (2, "failed")] {
            store
                .put_run(CrawlRunRecord {
                    job_id: job,
                    source_id: source.id,
                    state: state.to_owned(),
                    started_at: 10,
                    finished_at: None,
                    stats: "{}".to_owned(),
                })
                .await
                .unwrap();
        }
        let runs = store.runs(source.id, 5).await.unwrap();
        let seen: Vec<(i64, &str)> = runs.iter().map(|r| (r.job_id, r.state.as_str())).collect();
        assert_eq!(seen, [(2, "failed"), (1, "succeeded")], "{}", under.name);
        // What it holds counts too, when no page names it any more.
        store
            .claim_documents(source.id, &["https://a/held".to_owned()])
            .await
            .unwrap();
        let mut docs = store.delete_source(source.id).await.unwrap().unwrap();
        docs.sort();
        assert_eq!(docs, ["https://a/1", "https://a/held"], "{}", under.name);
        assert!(store.pages(source.id).await.unwrap().is_empty());
        assert!(store.runs(source.id, 5).await.unwrap().is_empty());
        assert_eq!(store.delete_source(source.id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_job_keeps_its_trace_context_and_the_backlog_counts_unfinished_jobs() {
    for under in backends("backlog").await {
        let store = &under.store;
        let empty = store.backlog(5_000).await.unwrap();
        assert_eq!(
            (empty.jobs, empty.oldest_ms),
            (0, None),
            "{}: nothing yet",
            under.name
        );
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = inserted(
            store
                .insert_job(NewJob {
                    traceparent: Some(parent.to_owned()),
                    ..new_job(None, None, b"traced")
                })
                .await
                .unwrap(),
        );
        assert_eq!(
            traced.traceparent.as_deref(),
            Some(parent),
            "{}",
            under.name
        );
        // Not published yet: not in the backlog.
        assert_eq!(
            store.backlog(5_000).await.unwrap().jobs,
            0,
            "{}",
            under.name
        );
        store.set_published(traced.id).await.unwrap();
        let read = store.job(traced.id).await.unwrap().unwrap();
        assert_eq!(read.traceparent.as_deref(), Some(parent), "{}", under.name);
        let untraced = published_job(store, b"untraced").await;
        assert_eq!(untraced.traceparent, None, "{}", under.name);

        let backlog = store.backlog(5_000).await.unwrap();
        assert_eq!(backlog.jobs, 2, "{}", under.name);
        assert_eq!(
            backlog.oldest_ms,
            Some(4_000),
            "{}: made at 1,000",
            under.name
        );
        store
            .finish_job(
                traced.id,
                Finish::Failed {
                    error: "x".to_owned(),
                },
                6_000,
            )
            .await
            .unwrap();
        assert_eq!(
            store.backlog(7_000).await.unwrap().jobs,
            1,
            "{}",
            under.name
        );
    }
}

#[tokio::test]
async fn a_document_stays_until_its_last_owner_lets_go() {
    for under in backends("owners").await {
        let store = &under.store;
        let ids = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        // Source 1 and the write API both hold "shared"; source 1 alone
        // holds "mine"; nobody recorded "legacy".
        store
            .claim_documents(1, &ids(&["shared", "mine"]))
            .await
            .unwrap();
        store
            .claim_documents(API_OWNER, &ids(&["shared"]))
            .await
            .unwrap();
        // Claiming again changes nothing.
        store.claim_documents(1, &ids(&["shared"])).await.unwrap();
        let free = store
            .release_documents(1, &ids(&["shared", "mine", "legacy"]))
            .await
            .unwrap();
        assert_eq!(free, ids(&["mine", "legacy"]), "{}", under.name);
        // Letting go twice: the API still holds it.
        let free = store.release_documents(1, &ids(&["shared"])).await.unwrap();
        assert!(free.is_empty(), "{}: {free:?}", under.name);
        let free = store
            .release_documents(API_OWNER, &ids(&["shared"]))
            .await
            .unwrap();
        assert_eq!(free, ids(&["shared"]), "{}", under.name);
        // Ids travel as one JSON array: any characters, repeated ones, and
        // more than the 32,766 parameters SQLite would take.
        let awkward = ids(&[r#"a "quoted" \ id"#, "ünï'cödé", "tab\there", "dup", "dup"]);
        store.claim_documents(4, &awkward).await.unwrap();
        store.claim_documents(5, &awkward[..1]).await.unwrap();
        let free = store.release_documents(4, &awkward).await.unwrap();
        assert_eq!(free, awkward[1..].to_vec(), "{}", under.name);
        let many: Vec<String> = (0..40_000).map(|i| format!("doc-{i}")).collect();
        store.claim_documents(2, &many).await.unwrap();
        store.claim_documents(3, &many[..10]).await.unwrap();
        let free = store.release_documents(2, &many).await.unwrap();
        assert_eq!(free, many[10..].to_vec(), "{}", under.name);
    }
}

#[tokio::test]
async fn a_run_that_waits_for_room_does_not_spend_an_attempt() {
    for under in backends("wait").await {
        let store = &under.store;
        let job = published_job(store, b"waits").await;
        let Start::Started(started) = store.start_job(job.id, 9_000, 2_000).await.unwrap() else {
            panic!()
        };
        assert_eq!(started.attempts, 1);
        store
            .finish_job(
                job.id,
                Finish::Wait {
                    error: "the index's disk is full".to_owned(),
                },
                3_000,
            )
            .await
            .unwrap();
        let waiting = store.job(job.id).await.unwrap().unwrap();
        assert_eq!(
            (waiting.state, waiting.attempts),
            (JobState::Queued, 0),
            "{}",
            under.name
        );
        assert!(
            store.payload(job.id).await.unwrap().is_some(),
            "{}",
            under.name
        );
    }
}

#[tokio::test]
async fn upgrading_to_owners_gives_each_source_the_documents_its_pages_hold() {
    for under in backends("owners_migration").await {
        let url = match under.name {
            "sqlite" => format!(
                "sqlite://{}",
                under
                    ._dir
                    .as_ref()
                    .unwrap()
                    .path()
                    .join("trawl.db")
                    .display()
            ),
            _ => under._schema.as_ref().unwrap().url.clone(),
        };
        let store = &under.store;
        let source = store.insert_source(new_source(None)).await.unwrap();
        let page = |url: &str| PageRecord {
            url: url.to_owned(),
            doc_id: Some(url.to_owned()),
            etag: None,
            last_modified: None,
            hash: vec![1],
            seen_job: 1,
            fetched_at: 1,
            links: None,
            has_links: false,
        };
        store
            .put_pages(source.id, &[page("https://a/1"), page("https://a/2")])
            .await
            .unwrap();
        // Back to version 3, as a database of the release before was.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        for statement in [
            "DELETE FROM trawl_schema WHERE version = 4",
            "DROP TABLE trawl_document_owners",
            "DROP TABLE trawl_heartbeat",
            "ALTER TABLE trawl_jobs DROP COLUMN source_id",
            "ALTER TABLE trawl_jobs DROP COLUMN kept",
            "ALTER TABLE trawl_crawl_pages DROP COLUMN links",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let upgraded = SqlStore::open(&StoreSettings::url(&url)).await.unwrap();
        let ids = vec!["https://a/1".to_owned(), "https://a/2".to_owned()];
        // The source holds them now: the API letting go removes nothing.
        let free = upgraded.release_documents(API_OWNER, &ids).await.unwrap();
        assert!(free.is_empty(), "{}: {free:?}", under.name);
        let free = upgraded.release_documents(source.id, &ids).await.unwrap();
        assert_eq!(free, ids, "{}", under.name);
        upgraded.close().await;
    }
}
