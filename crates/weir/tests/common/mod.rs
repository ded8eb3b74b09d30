//! Shared test fixtures: a real `weir serve` process on ephemeral ports, and
//! a real `redis-server` to compare against.
#![allow(dead_code)]

pub mod pair;
pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `weir` binary: Cargo's own for this package's tests; for another
/// package's tests (the examples'), the one built in the same target folder.
pub fn weir_bin() -> PathBuf {
    if let Some(bin) = option_env!("CARGO_BIN_EXE_weir") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe.parent().and_then(|deps| deps.parent()).expect("target folder").join("weir");
    assert!(path.exists(), "{} is missing: build it first (cargo build -p weir)", path.display());
    path
}

/// A running `weir serve`; killed on drop.
pub struct WeirNode {
    pub child: Child,
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub http: SocketAddr,
    pub log: Arc<Mutex<String>>,
    extra: Vec<String>,
}

/// Starts `weir serve` on `dir` with ports chosen by the OS and waits until
/// it answers PING. `extra` flags are appended.
pub fn start_weir(dir: &Path, extra: &[&str]) -> WeirNode {
    try_start_weir(dir, extra).unwrap_or_else(|log| panic!("weir did not start:\n{log}"))
}

/// Like [`start_weir`] but returns the node's output if it exits or never
/// becomes ready.
pub fn try_start_weir(dir: &Path, extra: &[&str]) -> Result<WeirNode, String> {
    let mut child = Command::new(weir_bin())
        .args(["serve", "--dir"])
        .arg(dir)
        .args(["--port", "0", "--http", "127.0.0.1:0"])
        .args(extra)
        .env("WEIR_LOG", "info,openraft=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    let log = Arc::new(Mutex::new(String::new()));
    let addrs = Arc::new(Mutex::new(None::<(SocketAddr, SocketAddr)>));
    let stderr = child.stderr.take().expect("stderr");
    let (log_w, addrs_w) = (log.clone(), addrs.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let (Some(resp), Some(http)) = (field(&line, "resp_addr="), field(&line, "http_addr=")) {
                *addrs_w.lock().unwrap() = Some((resp, http));
            }
            let mut log = log_w.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            return Err(log.lock().unwrap().clone());
        }
        let found = *addrs.lock().unwrap();
        if let Some((addr, http)) = found {
            if ping(addr) {
                let extra = extra.iter().map(|s| s.to_string()).collect();
                return Ok(WeirNode { child, dir: dir.to_path_buf(), addr, http, log, extra });
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("timed out; output:\n{}", log.lock().unwrap()))
}

fn field(line: &str, name: &str) -> Option<SocketAddr> {
    let start = line.find(name)? + name.len();
    let rest = &line[start..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].trim_matches('"').parse().ok()
}

/// True if the server answers PING (with PONG, or NOAUTH when a password
/// is set): it is up and serving.
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
}

impl WeirNode {
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).expect("client").get_connection().expect("connect")
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the node and starts it again on the same folder.
    pub fn restart(mut self) -> WeirNode {
        self.kill9();
        let extra: Vec<String> = self.extra.clone();
        let refs: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        start_weir(&self.dir, &refs)
    }

    pub fn output(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for WeirNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway `redis-server` on a free port; killed on drop.
pub struct RedisServer {
    pub child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Starts redis-server with extra config arguments (e.g. `--appendonly yes`).
/// Panics with a clear message if it is not installed: CI installs it, and
/// tests never skip silently.
pub fn start_redis(extra: &[&str]) -> RedisServer {
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..20 {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => panic!("redis-server is required for this test (apt-get install redis-server): {e}"),
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(addr) {
                return RedisServer { child, addr, _dir: dir };
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server did not start");
}

impl RedisServer {
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).expect("client").get_connection().expect("connect")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A minimal HTTP/1.1 request (the tests need nothing more).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect http");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("write http");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// XGROUP CREATE `stream` `group` 0 MKSTREAM.
pub fn create_group(conn: &mut redis::Connection, stream: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query(conn)
        .expect("XGROUP CREATE");
}

/// XADDs `count` orders (field `order` = `o<i>`, plus `fields(i)`),
/// pipelined a thousand at a time.
pub fn add_orders(
    conn: &mut redis::Connection,
    stream: &str,
    count: usize,
    fields: impl Fn(usize) -> Vec<(String, String)>,
) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let cmd = pipe.cmd("XADD").arg(stream).arg("*").arg("order").arg(format!("o{i}"));
            for (field, value) in fields(i) {
                cmd.arg(field).arg(value);
            }
            cmd.ignore();
        }
        let _: () = pipe.query(conn).expect("XADD");
    }
}

/// Runs space-separated command lines in order and renders each reply
/// (passed through `normalize`) as `line -> reply`, for comparing two
/// servers reply for reply.
pub fn replies(
    conn: &mut redis::Connection,
    lines: &[impl AsRef<str>],
    normalize: impl Fn(redis::Value) -> redis::Value,
) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let line = line.as_ref();
            let args: Vec<&str> = line.split_whitespace().collect();
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            match cmd.query::<redis::Value>(conn) {
                Ok(v) => format!("{line} -> {:?}", normalize(v)),
                Err(e) => format!("{line} -> error {e}"),
            }
        })
        .collect()
}

/// A redis-server cluster of one, all slots assigned and the state ok.
pub fn redis_cluster_of_one() -> RedisServer {
    let redis = start_redis(&["--cluster-enabled", "yes"]);
    let mut c = redis.client();
    let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383).query(&mut c).expect("addslots");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).expect("cluster info");
        if info.contains("cluster_state:ok") {
            return redis;
        }
        assert!(Instant::now() < deadline, "redis-server's cluster of one is ok: {info}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
