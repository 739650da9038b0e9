//! `write_timeout` means "no progress for that long", over real TCP with small socket buffers:
//! a client that reads slowly but steadily gets everything, on a websocket and on a streaming
//! response, even when one message takes many write timeouts to go out; a client that stops
//! reading is still dropped.
//!
//! The server here has a one-second write timeout and hyper's smallest write buffer, so little
//! data is needed; the slow client reads 4 KiB every 25 ms. Its accepted connections get
//! `sockjs_hyper::prepare_tcp`, as every server loop should: the last two tests show why, with
//! a send buffer of megabytes (as Linux autotunes it on a fast link), which the kernel reports
//! writable only once a third of it has drained.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sockjs_hyper::{CloseCause, Config, Connection, SockJs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// One message's size: it takes the slow client about three seconds, three write timeouts.
const MESSAGE: usize = 512 * 1024;
/// Upper bound of anything a test waits for.
const LIMIT: Duration = Duration::from_secs(10);

type Causes = mpsc::UnboundedReceiver<Option<CloseCause>>;

/// An endpoint that sends `count` messages of `size` bytes, closes with 3000 "done" and
/// reports the session's close cause.
fn finite(
    prefix: &str,
    config: &Config,
    causes: &mpsc::UnboundedSender<Option<CloseCause>>,
    count: usize,
    size: usize,
) -> SockJs {
    let causes = causes.clone();
    SockJs::new(prefix, config.clone(), move |conn: Connection| {
        let causes = causes.clone();
        async move {
            let mut sent = 0;
            while sent < count && conn.send("x".repeat(size)).await.is_ok() {
                sent += 1;
            }
            if sent == count {
                conn.close(3000, "done");
            }
            let mut conn = conn;
            while conn.recv().await.is_some() {}
            let _ = causes.send(conn.close_cause());
        }
    })
    .unwrap()
}

/// A server with three endpoints: `/burst` sends one large message and closes with 3000
/// "done", `/bulk` three of 1 MiB; `/flood` sends large messages until the session fails.
/// Each reports the session's close cause.
async fn server() -> (SocketAddr, Causes) {
    // Small socket buffers (accepted sockets inherit the listener's), so that what the kernel
    // holds does not hide the client's pace.
    server_with_send_buffer(4096).await
}

/// [`server`] with the listening socket's `SO_SNDBUF` set to `send_buffer`.
async fn server_with_send_buffer(send_buffer: u32) -> (SocketAddr, Causes) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut config = Config::default();
    config.write_timeout = Duration::from_secs(1);
    config.response_limit = 16 * 1024 * 1024;
    let burst = finite("/burst", &config, &tx, 1, MESSAGE);
    let bulk = finite("/bulk", &config, &tx, 3, MESSAGE_LARGE);
    let flood = SockJs::new("/flood", config, move |conn: Connection| {
        let tx = tx.clone();
        async move {
            let message = "y".repeat(64 * 1024);
            while conn.send(message.as_str()).await.is_ok() {}
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(send_buffer).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            sockjs_hyper::prepare_tcp(&stream).unwrap();
            let endpoints = [
                burst.with_peer_addr(peer),
                bulk.with_peer_addr(peer),
                flood.with_peer_addr(peer),
            ];
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let endpoint = endpoints
                        .iter()
                        .find(|e| e.matches(req.uri().path()))
                        .cloned();
                    async move {
                        let endpoint = endpoint.unwrap_or_else(|| panic!("no endpoint"));
                        Ok::<_, Infallible>(endpoint.handle(req).await)
                    }
                });
                let _ = http1::Builder::new()
                    .max_buf_size(8192)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, rx)
}

/// A client connection with a small receive buffer, its request already written.
async fn client(addr: SocketAddr, request: String) -> TcpStream {
    client_with_recv_buffer(addr, request, 4096).await
}

/// A client connection with `SO_RCVBUF` `size`, its request already written.
async fn client_with_recv_buffer(addr: SocketAddr, request: String, size: u32) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(size).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

fn streaming_request(endpoint: &str, id: u32) -> String {
    format!(
        "POST {endpoint}/000/{id}/xhr_streaming HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
}

fn websocket_request(endpoint: &str, id: u32) -> String {
    format!(
        "GET {endpoint}/000/{id}/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Read `chunk` bytes every `pause` until the close frame `c[3000,"done"]` has arrived;
/// returns how many `x` bytes (the messages, and the few of the response head) came before
/// it, or panics if the connection ended first.
async fn read_until_done(mut stream: TcpStream, chunk: usize, pause: Duration) -> usize {
    let done = br#"c[3000,"done"]"#;
    let mut tail: Vec<u8> = Vec::new();
    let mut xs = 0;
    let mut buf = vec![0u8; chunk];
    loop {
        let n = tokio::time::timeout(LIMIT, stream.read(&mut buf))
            .await
            .expect("the server sent nothing for a long time")
            .unwrap_or(0);
        assert!(
            n > 0,
            "the connection ended before the close frame, after {xs} bytes of the messages"
        );
        xs += buf[..n].iter().filter(|&&b| b == b'x').count();
        tail.extend_from_slice(&buf[..n]);
        if tail.windows(done.len()).any(|w| w == done) {
            return xs;
        }
        let keep = tail.len().saturating_sub(done.len());
        tail.drain(..keep);
        tokio::time::sleep(pause).await;
    }
}

/// 4 KiB every 25 ms.
async fn read_slowly_until_done(stream: TcpStream) -> usize {
    read_until_done(stream, 4096, Duration::from_millis(25)).await
}

/// 16 KiB every 40 ms, about 400 KB/s: a third of the large send buffer (680 KiB) takes the
/// client well over the one-second write timeout.
async fn read_steadily_until_done(stream: TcpStream) -> usize {
    read_until_done(stream, 16 * 1024, Duration::from_millis(40)).await
}

/// The session ended as the server closed it: 3000 "done".
async fn assert_done(causes: &mut Causes) {
    assert_eq!(
        next_cause(causes).await,
        Some(CloseCause::Server {
            code: 3000,
            reason: "done".into()
        })
    );
}

async fn next_cause(causes: &mut Causes) -> Option<CloseCause> {
    tokio::time::timeout(LIMIT, causes.recv())
        .await
        .expect("the handler did not end")
        .unwrap()
}

#[tokio::test]
async fn a_slow_steady_websocket_reader_gets_everything() {
    let (addr, mut causes) = server().await;
    let stream = client(addr, websocket_request("/burst", 1)).await;
    assert!(read_slowly_until_done(stream).await >= MESSAGE);
    assert_done(&mut causes).await;
}

#[tokio::test]
async fn a_slow_steady_streaming_reader_gets_everything() {
    let (addr, mut causes) = server().await;
    let stream = client(addr, streaming_request("/burst", 2)).await;
    assert!(read_slowly_until_done(stream).await >= MESSAGE);
    assert_done(&mut causes).await;
}

#[tokio::test]
async fn a_websocket_reader_that_stops_is_dropped() {
    let (addr, mut causes) = server().await;
    let stalled = client(addr, websocket_request("/flood", 3)).await;
    assert_eq!(next_cause(&mut causes).await, Some(CloseCause::Interrupted));
    drop(stalled);
}

#[tokio::test]
async fn a_streaming_reader_that_stops_is_dropped() {
    let (addr, mut causes) = server().await;
    let stalled = client(addr, streaming_request("/flood", 4)).await;
    assert_eq!(next_cause(&mut causes).await, Some(CloseCause::Interrupted));
    drop(stalled);
}

/// The burst's size for the large-buffer tests: more than the server's send buffer holds.
const BIG_BURST: usize = 3 * MESSAGE_LARGE;
const MESSAGE_LARGE: usize = 1024 * 1024;

/// A server whose `/bulk` sends three 1 MiB messages and closes with 3000 "done", with a
/// 1 MiB `SO_SNDBUF` (2 MiB for the kernel): the buffer the kernel's autotuning gives a fast
/// link, set here so that it does not depend on the machine.
async fn bulk_server() -> (SocketAddr, Causes) {
    server_with_send_buffer(1024 * 1024).await
}

#[tokio::test]
async fn a_steady_websocket_reader_behind_a_large_send_buffer_gets_everything() {
    let (addr, mut causes) = bulk_server().await;
    let stream = client_with_recv_buffer(addr, websocket_request("/bulk", 5), 64 * 1024).await;
    assert!(read_steadily_until_done(stream).await >= BIG_BURST);
    assert_done(&mut causes).await;
}

#[tokio::test]
async fn a_steady_streaming_reader_behind_a_large_send_buffer_gets_everything() {
    let (addr, mut causes) = bulk_server().await;
    let stream = client_with_recv_buffer(addr, streaming_request("/bulk", 6), 64 * 1024).await;
    assert!(read_steadily_until_done(stream).await >= BIG_BURST);
    assert_done(&mut causes).await;
}
