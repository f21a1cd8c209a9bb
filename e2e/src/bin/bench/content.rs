//! Interactive content through the gateway, on the local backend with the release binaries: the
//! FastAPI test app (real packages from the wheelhouse) built once, then
//!
//! - cold starts: a request with no instance running, to its answer (a small JSON body, so the
//!   first byte and the last come together), after each idle stop;
//! - warm requests through the gateway and straight to the app's own address, interleaved in the
//!   same run, p50/p99 each and the proxy's overhead as a ratio;
//! - 200 WebSocket sessions through the gateway held open for a minute, each sending a message a
//!   second and checking the echo: messages, round-trip p50/p99, errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::content::{COLD_WITHIN, LocalSite, TestApp, round_trip};
use execenv_e2e::{eventually, http_request};
use tokio::sync::Mutex;

use super::common::{ms, percentiles};

const CONTENT: &str = "3e7a9b2c-4d5f-4a6b-8c9d-0e1f2a3b4c5d";
const COLD_STARTS: usize = 5;
const WARM_REQUESTS: usize = 1000;
const SESSIONS: usize = 200;
const HOLD: Duration = Duration::from_secs(60);
/// The idle timeout the gateway runs with here: short, so cold starts come quickly.
const IDLE_S: u64 = 2;

/// Runs the three measurements and prints them.
pub async fn content_bench() -> Result<()> {
    let site = LocalSite::start(
        &[],
        &[("EXECENV_CONTENT__IDLE_TIMEOUT_S", IDLE_S.to_string())],
    )?;
    let pat = site.client(&site.publisher);
    let built = Instant::now();
    pat.publish(CONTENT, TestApp::FastApi, &site.python, None, &site.pip())?;
    println!(
        "content  FastAPI bundle uploaded and built from the wheelhouse in {:.0} ms",
        ms(built.elapsed())
    );

    let info = format!("/__api__/execenv/v1/content/{CONTENT}");
    let mut cold = Vec::new();
    for _ in 0..COLD_STARTS {
        // Wait until the idle stop has removed the previous instance.
        eventually(Duration::from_secs(60), "no instance running", || {
            pat.call("GET", &info, None, 200)
                .is_ok_and(|i| i["instance"].is_null())
        })?;
        let (_, took) = pat.content_json(CONTENT, "/", COLD_WITHIN)?;
        cold.push(took);
    }
    let mut sorted = cold.clone();
    sorted.sort();
    println!(
        "content  cold start (request → answer, idle stop between): min {:.0} ms, median {:.0} ms, max {:.0} ms over {COLD_STARTS}",
        ms(sorted[0]),
        ms(sorted[COLD_STARTS / 2]),
        ms(sorted[COLD_STARTS - 1])
    );

    // Warm: the instance is running; alternate a request through the gateway and one straight
    // to the app, so both see the same machine at the same moment.
    pat.content_json(CONTENT, "/", COLD_WITHIN)?;
    let instance = pat.call("GET", &info, None, 200)?;
    let address = instance["instance"]["address"]
        .as_str()
        .with_context(|| format!("the instance's address: {instance}"))?
        .to_owned();
    let auth = format!("Key {}", site.publisher);
    let proxied_path = format!("/content/{CONTENT}/items/tea?q=1");
    let (mut proxied, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..WARM_REQUESTS {
        let started = Instant::now();
        let answer = http_request(
            site.gateway.address(),
            "GET",
            &proxied_path,
            &[("Authorization", &auth)],
            None,
        )?;
        proxied.push(started.elapsed());
        ensure!(answer.status == 200, "through the gateway: {}", answer.body);
        let started = Instant::now();
        let answer = http_request(&address, "GET", "/items/tea?q=1", &[], None)?;
        direct.push(started.elapsed());
        ensure!(answer.status == 200, "straight to the app: {}", answer.body);
    }
    let (p50, p99) = percentiles(&mut proxied);
    let (d50, d99) = percentiles(&mut direct);
    println!(
        "content  warm GET ({WARM_REQUESTS} each, new connection per request): through the gateway p50 {:.0} µs p99 {:.0} µs; straight to the app p50 {:.0} µs p99 {:.0} µs; ratio p50 {:.2}, p99 {:.2}",
        p50,
        p99,
        d50,
        d99,
        p50 / d50,
        p99 / d99
    );

    websocket_sessions(&site).await
}

/// 200 WebSocket sessions through the gateway, each sending a message a second for [`HOLD`].
async fn websocket_sessions(site: &LocalSite) -> Result<()> {
    let errors = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let trips = Arc::new(Mutex::new(Vec::new()));
    let opened = Instant::now();
    let mut sessions = Vec::new();
    for n in 0..SESSIONS {
        let api = site.gateway.address().to_owned();
        let key = site.publisher.clone();
        let (errors, messages, trips) = (errors.clone(), messages.clone(), trips.clone());
        sessions.push(tokio::spawn(async move {
            let client = execenv_e2e::content::Client {
                api: &api,
                key: &key,
            };
            let mut socket = match client.websocket(CONTENT, "/ws").await {
                Ok(socket) => socket,
                Err(e) => {
                    eprintln!("content  session {n}: cannot open: {e:#}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let end = Instant::now() + HOLD;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut seq = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                seq += 1;
                let text = format!("{n}-{seq}");
                let started = Instant::now();
                match round_trip(&mut socket, &text).await {
                    Ok(echo) if echo == format!("echo: {text}") => {
                        trips.lock().await.push(started.elapsed());
                        messages.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(other) => {
                        eprintln!("content  session {n}: wrong echo {other:?}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("content  session {n}: {e:#}");
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            let _ = socket.close(None).await;
        }));
    }
    for session in sessions {
        session.await?;
    }
    let mut trips = trips.lock().await;
    let (p50, p99) = if trips.is_empty() {
        (0.0, 0.0)
    } else {
        percentiles(&mut trips)
    };
    println!(
        "content  {SESSIONS} WebSocket sessions held {:.0} s through the gateway: {} messages echoed, round trip p50 {:.0} µs p99 {:.0} µs, {} errors",
        opened.elapsed().as_secs_f64(),
        messages.load(Ordering::Relaxed),
        p50,
        p99,
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
