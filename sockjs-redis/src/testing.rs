//! A real `redis-server` for integration tests: started on a free loopback port in its own
//! temporary directory, with no persistence, and stopped when dropped.
//!
//! It needs the `redis-server` program (Debian: `apt-get install redis-server`; the
//! repository's `scripts/test.sh` installs it). Nothing here is used by the backend itself.
//!
//! ```no_run
//! use sockjs_redis::testing::RedisServer;
//!
//! let mut redis = RedisServer::start().expect("redis-server");
//! let url = redis.url(); // redis://127.0.0.1:<port>
//! redis.stop();          // SIGKILL: the nodes lose Redis
//! redis.restart().expect("redis-server again, same port, empty");
//! # drop(url);
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer `PING` after it was started.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// A `redis-server` child process on `127.0.0.1:<port>`; killed (and its directory removed)
/// when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    program: PathBuf,
}

impl RedisServer {
    /// Start `redis-server` (found on `PATH`, or at `$REDIS_SERVER`) on a free loopback port.
    pub fn start() -> io::Result<RedisServer> {
        let program = std::env::var_os("REDIS_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("redis-server"));
        let dir = temp_dir()?;
        // A free port can be taken by someone else between our probe and redis's bind: try
        // a few.
        let mut last = io::Error::other("no attempt");
        for _ in 0..5 {
            let port = free_port()?;
            let mut server = RedisServer {
                port,
                dir: dir.clone(),
                child: None,
                program: program.clone(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    server.dir = PathBuf::new(); // keep the directory for the next attempt
                    last = e;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running (it may be paused).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kill the server (SIGKILL, as a crash would) and wait for it to exit. Its data is gone:
    /// it runs without persistence.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port (empty, as after a crash without persistence); retries
    /// for a while if the port is still held by the dying process's sockets.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Freeze the server (SIGSTOP): connections stay open, nothing answers — what a hung
    /// server or a network partition looks like to a client.
    pub fn pause(&self) -> io::Result<()> {
        self.signal("-STOP")
    }

    /// Undo [`pause`](RedisServer::pause) (SIGCONT).
    pub fn resume(&self) -> io::Result<()> {
        self.signal("-CONT")
    }

    /// Run a command with `redis-cli` against the server and return its output (for
    /// assertions on the keys a test expects).
    pub fn cli(&self, args: &[&str]) -> io::Result<String> {
        let cli = self.program.with_file_name("redis-cli");
        let program: &Path = if cli.is_file() {
            &cli
        } else {
            Path::new("redis-cli")
        };
        let out = Command::new(program)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "redis-cli {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn signal(&self, sig: &str) -> io::Result<()> {
        let Some(child) = &self.child else {
            return Err(io::Error::other("redis-server is not running"));
        };
        let status = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {sig} failed")))
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = self.dir.join("redis.log");
        let mut child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run {}: {e} (install Debian's redis-server package)",
                        self.program.display()
                    ),
                )
            })?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                let logged = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "redis-server exited ({status}) on port {}: {stderr}{}",
                    self.port,
                    logged.lines().last().unwrap_or("")
                )));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether a Redis on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A port nobody listens on right now.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn temp_dir() -> io::Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sockjs-redis-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
