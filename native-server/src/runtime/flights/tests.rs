use super::super::test_util::wait_until;
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

type Counted = (Arc<AtomicUsize>, Arc<Notify>);

fn counted() -> Counted {
    (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()))
}

#[test]
fn flights_are_send_sync_debug() {
    fn check<T: Send + Sync + fmt::Debug>() {}
    check::<Flights<String, Result<Arc<Vec<u8>>, String>>>();
}

#[tokio::test]
async fn concurrent_callers_share_one_computation() {
    let flights = Flights::<String, u64>::new(|| 0);
    let (makes, release) = counted();
    let mut handles = Vec::new();
    for _ in 0..50 {
        let (flights, makes, release) = (
            Arc::clone(&flights),
            Arc::clone(&makes),
            Arc::clone(&release),
        );
        handles.push(tokio::spawn(async move {
            flights
                .run("img/a.jpg".to_owned(), || async move {
                    makes.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    99
                })
                .await
        }));
    }
    wait_until(|| makes.load(Ordering::SeqCst) == 1).await;
    assert_eq!(flights.in_flight(), 1);
    release.notify_one();
    let mut joined = 0;
    for handle in handles {
        let (value, was_joined) = handle.await.unwrap();
        assert_eq!(value, 99);
        joined += usize::from(was_joined);
    }
    assert_eq!(makes.load(Ordering::SeqCst), 1);
    assert_eq!(joined, 49);
    assert_eq!(flights.in_flight(), 0);
}

#[tokio::test]
async fn a_caller_that_gives_up_leaves_the_work_running_and_a_later_caller_joins_it() {
    let flights = Flights::<u32, &'static str>::new(|| "panicked");
    let (makes, release) = counted();
    let (m, r) = (Arc::clone(&makes), Arc::clone(&release));
    let first = flights.run(7, || async move {
        m.fetch_add(1, Ordering::SeqCst);
        r.notified().await;
        "done"
    });
    // The first caller's deadline passes while the work waits.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), first).await;
    assert!(gave_up.is_err());
    wait_until(|| makes.load(Ordering::SeqCst) == 1).await;
    assert_eq!(flights.in_flight(), 1, "the work outlives its caller");

    // The retry joins the running work instead of starting a second one (the work's task
    // cannot finish before this task yields, so the retry finds it running).
    let retry = flights.run(7, || async { "second make" });
    let (got, ()) = tokio::join!(retry, async { release.notify_one() });
    assert_eq!(got, ("done", true));
    assert_eq!(makes.load(Ordering::SeqCst), 1);
    wait_until(|| flights.in_flight() == 0).await;
}

#[tokio::test]
async fn work_nobody_waits_for_still_finishes() {
    let flights = Flights::<u8, u8>::new(|| 0);
    let (done, _) = counted();
    let d = Arc::clone(&done);
    let caller = {
        let flights = Arc::clone(&flights);
        tokio::spawn(async move {
            flights
                .run(1, || async move {
                    tokio::task::yield_now().await;
                    d.fetch_add(1, Ordering::SeqCst);
                    1
                })
                .await
        })
    };
    wait_until(|| flights.in_flight() == 1).await;
    caller.abort();
    let _ = caller.await;
    wait_until(|| done.load(Ordering::SeqCst) == 1).await;
    wait_until(|| flights.in_flight() == 0).await;
}

#[tokio::test]
async fn completed_key_is_computed_again() {
    let flights = Flights::<String, usize>::new(|| 0);
    let makes = Arc::new(AtomicUsize::new(0));
    for expected in 1..=2 {
        let m = Arc::clone(&makes);
        let got = flights
            .run("k".to_owned(), || async move {
                m.fetch_add(1, Ordering::SeqCst) + 1
            })
            .await;
        assert_eq!(got, (expected, false));
        wait_until(|| flights.in_flight() == 0).await;
    }
}

#[tokio::test]
async fn a_panic_reaches_every_caller_as_the_panic_value_and_frees_the_key() {
    let flights = Flights::<u8, Result<u8, String>>::new(|| Err("panicked".into()));
    let (_, release) = counted();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (f, r) = (Arc::clone(&flights), Arc::clone(&release));
        handles.push(tokio::spawn(async move {
            f.run(0, || async move {
                r.notified().await;
                panic!("decoder bug");
            })
            .await
        }));
    }
    wait_until(|| flights.in_flight() == 1).await;
    release.notify_one();
    for handle in handles {
        assert_eq!(handle.await.unwrap().0, Err("panicked".to_owned()));
    }
    assert_eq!(flights.in_flight(), 0);
}

#[tokio::test]
async fn different_keys_run_independently() {
    let flights = Flights::<&'static str, u32>::new(|| 0);
    let (_, release) = counted();
    let (f, r) = (Arc::clone(&flights), Arc::clone(&release));
    let a = tokio::spawn(async move {
        f.run("a", || async move {
            r.notified().await;
            1
        })
        .await
    });
    wait_until(|| flights.in_flight() == 1).await;
    assert_eq!(flights.run("b", || async { 2 }).await, (2, false));
    release.notify_one();
    assert_eq!(a.await.unwrap(), (1, false));
}
