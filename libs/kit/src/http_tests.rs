#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::net::TcpListener;

use super::serve;

/// A server of one route answering the caller's address, with `timeout` for a request's head;
/// its address and the sender that stops it.
async fn server(
    timeout: Duration,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, Some(timeout), async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Everything the server sends until it closes the connection (or 20 s pass).
fn read_to_close(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    let (addr, stop, task) = server(Duration::from_millis(300)).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // The request line and one header, then nothing: a slowloris client.
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        read_to_close(&mut stream)
    })
    .await
    .unwrap();
    // Closed by the server (hyper may say 408 first) rather than the read timing out.
    let answer = answer.expect("the server kept the connection open");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_request_is_answered_with_the_peers_address() {
    let (addr, stop, task) = server(Duration::from_millis(300)).await;
    let (local, answer) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let local = stream.local_addr().unwrap();
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        (local, read_to_close(&mut stream).unwrap())
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_nothing_more_is_accepted() {
    let (addr, stop, task) = server(Duration::from_secs(30)).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is still open"
    );
}
