//! Socket settings for the TCP connections an endpoint is served on.

/// The most unsent bytes the kernel holds for a connection once [`prepare_tcp`] has set it up:
/// 128 KiB.
pub const UNSENT_LIMIT: u32 = 128 * 1024;

/// Prepare an accepted TCP connection for serving SockJS: call it on every stream your accept
/// loop gets, before handing it to hyper (or to TLS).
///
/// It limits the data the kernel holds unsent for the connection to [`UNSENT_LIMIT`]
/// (`TCP_NOTSENT_LOWAT`, on Linux and Android; elsewhere it does nothing). Without it,
/// [`Config::write_timeout`](crate::Config::write_timeout) cannot see a slow reader's
/// progress: Linux grows a connection's send buffer to megabytes on a fast link and reports
/// the connection writable again only once a third of that buffer has drained, so a client
/// reading steadily at a few kilobytes a second lets the server write nothing for minutes,
/// and is dropped as if it had stopped reading. With the limit, the connection becomes
/// writable each time the client has taken about half of it (64 KiB). It also bounds what
/// the kernel buffers for each slow client.
///
/// ```no_run
/// # async fn run(echo: sockjs_hyper::SockJs) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     if let Err(e) = sockjs_hyper::prepare_tcp(&stream) {
///         tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
///     }
///     // ... serve `stream` with `echo.with_peer_addr(peer)` as usual
/// #   let _ = (stream, peer, &echo);
/// }
/// # }
/// ```
pub fn prepare_tcp(stream: &tokio::net::TcpStream) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_LIMIT)?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sets_the_unsent_limit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        prepare_tcp(&server).unwrap();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(
            socket2::SockRef::from(&server).tcp_notsent_lowat().unwrap(),
            UNSENT_LIMIT
        );
        drop(client);
    }
}
