#![allow(clippy::unwrap_used)]

use super::*;

const IDLE: Duration = Duration::from_secs(300);

fn table() -> InstanceTable {
    InstanceTable::new(ContentMetrics::unregistered())
}

fn ready(address: &str) -> Progress {
    Progress::Ready {
        launch_id: "app-c-1".to_owned(),
        address: address.to_owned(),
    }
}

fn activity(in_flight: u32, websockets: u32, last: Instant) -> Activity {
    Activity {
        in_flight,
        websockets,
        last,
    }
}

#[tokio::test(start_paused = true)]
async fn only_the_instances_unused_for_the_idle_time_are_chosen() {
    let now = Instant::now() + Duration::from_secs(3600);
    let long_ago = now - IDLE;
    let just_now = now - Duration::from_secs(299);
    let entries = [
        ("a-busy", activity(1, 0, long_ago), true),
        ("b-websocket", activity(0, 1, long_ago), true),
        ("c-idle", activity(0, 0, long_ago), true),
        ("d-recent", activity(0, 0, just_now), true),
        ("e-not-launched-yet", activity(0, 0, long_ago), false),
        ("f-idler", activity(0, 0, now - 2 * IDLE), true),
    ];
    let chosen = idle_choice(entries.iter().map(|(g, a, l)| (*g, a, *l)), now, IDLE);
    assert_eq!(chosen, vec!["c-idle".to_owned(), "f-idler".to_owned()]);
}

#[test]
fn idle_instances_are_looked_for_every_quarter_of_the_idle_time_at_most_5_s() {
    assert_eq!(sweep_period(IDLE), Duration::from_secs(5));
    assert_eq!(sweep_period(Duration::from_secs(8)), Duration::from_secs(2));
    assert_eq!(
        sweep_period(Duration::from_secs(1)),
        Duration::from_millis(250)
    );
}

#[tokio::test]
async fn many_requests_for_one_content_make_one_start_and_all_see_it_ready() {
    let table = table();
    let joined: Vec<Joined> = (0..10).map(|_| table.join("c")).collect();
    let made: Vec<&Made> = joined.iter().filter_map(|j| j.made.as_ref()).collect();
    assert_eq!(made.len(), 1, "one start for ten requests");
    let generation = made[0].generation;
    assert_eq!(table.activity("c").unwrap().in_flight, 10);
    assert_eq!(table.len(), 1);

    let mut waiters = Vec::new();
    for j in joined {
        let mut progress = j.progress;
        waiters.push(tokio::spawn(async move {
            let seen = progress
                .wait_for(|p| !matches!(p, Progress::Starting { .. }))
                .await
                .unwrap()
                .clone();
            drop(j.lease);
            seen
        }));
    }
    assert!(table.launched("c", generation, "app-c-1", "1"));
    assert!(table.publish("c", generation, ready("127.0.0.1:9000")));
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), ready("127.0.0.1:9000"));
    }
    assert_eq!(table.activity("c").unwrap().in_flight, 0);
    let view = table.view("c", None).unwrap();
    assert_eq!(
        (
            view.state,
            view.launch_id.as_str(),
            view.bundle.as_str(),
            view.address.as_str()
        ),
        ("ready", "app-c-1", "1", "127.0.0.1:9000")
    );
    assert!(view.ready_time.is_some());
}

#[tokio::test]
async fn a_failed_start_reaches_its_waiters_and_the_next_request_starts_again() {
    let table = table();
    let first = table.join("c");
    let made = first.made.clone().unwrap();
    let failure = ContentError::unavailable("content c did not start: Failed: boom", None);
    let removed = table.remove("c", Some(made.generation), Some(failure.clone()));
    assert!(removed.is_some());
    assert!(made.stop.is_cancelled(), "its follower is told to stop");
    assert_eq!(*first.progress.borrow(), Progress::Failed(failure));
    assert!(table.is_empty());
    let second = table.join("c");
    assert!(second.made.is_some(), "a new start");
    assert_ne!(second.made.unwrap().generation, made.generation);
}

#[tokio::test]
async fn a_replaced_instance_is_not_changed_by_the_requests_of_the_old_one() {
    let table = table();
    let old = table.join("c");
    let old_generation = old.made.clone().unwrap().generation;
    table.remove("c", None, None);
    let new = table.join("c");
    let new_generation = new.made.clone().unwrap().generation;
    drop(old.lease);
    assert_eq!(table.activity("c").unwrap().in_flight, 1);
    assert!(!table.publish("c", old_generation, ready("a:1")));
    assert!(!table.launched("c", old_generation, "old", "1"));
    assert!(table.remove("c", Some(old_generation), None).is_none());
    assert!(table.publish("c", new_generation, ready("b:2")));
    assert_eq!(table.view("c", None).unwrap().address, "b:2");
}

#[tokio::test(start_paused = true)]
async fn an_instance_is_idle_after_its_last_request_or_websocket_ends() {
    let metrics = execenv_kit::metrics::Metrics::new();
    let table = InstanceTable::new(ContentMetrics::register(&metrics));
    table
        .adopt("c", "app-c-1", "1", ready("127.0.0.1:9000"))
        .unwrap();
    let request = table.join("c").lease;
    tokio::time::advance(IDLE * 2).await;
    assert!(
        table.take_idle(Instant::now(), IDLE).is_empty(),
        "in flight"
    );
    let websocket = request.into_websocket();
    assert_eq!(
        table.activity("c").unwrap(),
        activity(0, 1, table.activity("c").unwrap().last)
    );
    tokio::time::advance(IDLE * 2).await;
    assert!(
        table.take_idle(Instant::now(), IDLE).is_empty(),
        "a WebSocket is open"
    );
    drop(websocket);
    tokio::time::advance(IDLE - Duration::from_secs(1)).await;
    assert!(
        table.take_idle(Instant::now(), IDLE).is_empty(),
        "used 299 s ago"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    let removed = table.take_idle(Instant::now(), IDLE);
    assert_eq!(
        removed,
        vec![Removed {
            guid: "c".to_owned(),
            launch_id: "app-c-1".to_owned(),
            idle: IDLE,
        }]
    );
    assert!(table.is_empty());
    let text = metrics.encode();
    assert!(
        text.contains("execenv_gateway_content_instances 0"),
        "{text}"
    );
    assert!(
        text.contains("execenv_gateway_content_websockets 0"),
        "{text}"
    );
}

#[tokio::test]
async fn an_adopted_launch_is_kept_once_per_content() {
    let table = table();
    assert!(table.adopt("c", "app-c-2", "2", ready("a:1")).is_some());
    assert!(table.adopt("c", "app-c-1", "1", ready("a:1")).is_none());
    let starting = Progress::Starting {
        launch_id: "app-d-1".to_owned(),
        reason: "Starting".to_owned(),
        message: "the app is not answering yet".to_owned(),
    };
    table.adopt("d", "app-d-1", "1", starting).unwrap();
    let view = table.view("d", None).unwrap();
    assert_eq!(
        (view.state, view.reason.as_str(), view.ready_time),
        ("starting", "Starting", None)
    );
    assert_eq!(table.view("c", None).unwrap().launch_id, "app-c-2");
    // The follower of "d" is its own; "c" needs none.
    let generation = 2;
    assert!(table.follow("d", generation).is_none(), "already followed");
}
