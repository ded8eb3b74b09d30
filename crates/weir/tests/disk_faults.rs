//! A real write failure: the node runs under a file-size limit
//! (RLIMIT_FSIZE, with SIGXFSZ ignored, so write(2) fails with EFBIG once the
//! log reaches it). The node must stop acknowledging writes with MISCONF and
//! say why, keep serving reads where all it applied is durable, refuse them
//! where it is not, and after a restart without the limit hold every write
//! it acknowledged.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The log may grow to this many bytes before writes fail.
const FILE_LIMIT: u64 = 2 << 20;

/// Kills the node when dropped, so a failed assertion leaves no server behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_limited(dir: &std::path::Path) -> (Killed, std::net::SocketAddr) {
    let mut command = Command::new(common::weir_bin());
    command
        .args(["serve", "--dir"])
        .arg(dir)
        .args(["--port", "0", "--http", "127.0.0.1:0", "--snapshot-every", "1000000", "--partitions", "2"])
        .env("WEIR_LOG", "info,openraft=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: FILE_LIMIT, rlim_max: FILE_LIMIT };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn weir");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(at) = line.find("resp_addr=") {
            let rest = &line[at + "resp_addr=".len()..];
            let addr = rest.split_whitespace().next().expect("address").parse().expect("socket address");
            // Keep draining the log so the node never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            while !common::ping(addr) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return (Killed(child), addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("weir did not start under the file-size limit");
}

#[test]
fn a_failed_log_write_poisons_the_node_and_loses_no_ack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, addr) = start_limited(dir.path());
    let mut c = redis::Client::open(format!("redis://{addr}")).expect("client").get_connection().expect("connect");
    // Writes go to one partition (slots below 8192 of two); a key on the
    // other is written first and read after the failure.
    let (written, idle) = (tag_of_partition(false), tag_of_partition(true));
    let elsewhere = format!("{{{idle}}}elsewhere");
    redis::cmd("SET").arg(&elsewhere).arg("ok").query::<()>(&mut c).expect("set");
    let value = "v".repeat(1024);
    let mut acked = Vec::new();
    let mut refusal = None;
    for i in 0..(4 * FILE_LIMIT / 1024) {
        let key = format!("{{{written}}}key:{i}");
        match redis::cmd("SET").arg(&key).arg(&value).query::<()>(&mut c) {
            Ok(()) => acked.push(key),
            Err(e) => {
                refusal = Some(e.to_string());
                break;
            }
        }
    }
    let refusal = refusal.expect("writes must fail once the log cannot grow");
    assert!(refusal.contains("MISCONF"), "{refusal}");
    assert!(!acked.is_empty());
    // Poisoned: later writes are refused too, and it says why.
    let again: redis::RedisResult<()> = redis::cmd("SET").arg("after").arg(1).query(&mut c);
    assert!(again.unwrap_err().to_string().contains("MISCONF"));
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
    assert!(info.contains("weir_log_poisoned:log write failed"), "{info}");
    // The other partition's state is all durable: still served.
    let other: String = redis::cmd("GET").arg(&elsewhere).query(&mut c).expect("reads still served");
    assert_eq!(other, "ok");
    // This partition may have applied the write that failed (applied
    // before durable): it refuses reads rather than show it.
    let first: redis::RedisResult<String> = redis::cmd("GET").arg(&acked[0]).query(&mut c);
    assert!(first.unwrap_err().to_string().contains("MISCONF"), "a state that is not durable must not be read");
    drop(child);

    // Without the limit, recovery truncates whatever the failed write left
    // and every acknowledged write is there.
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    for chunk in acked.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("EXISTS").arg(key);
        }
        let present: Vec<i64> = pipe.query(&mut c).expect("exists");
        assert!(present.iter().all(|p| *p == 1), "an acknowledged write was lost");
    }
    eprintln!("{} acknowledged writes before the disk refused; all present after restart", acked.len());
}

/// A hash tag whose slot falls in the upper half of the slots (partition 1
/// of 2) or the lower half (partition 0).
fn tag_of_partition(upper: bool) -> String {
    (0..).map(|i| format!("t{i}")).find(|tag| (weir_state::key_slot(tag.as_bytes()) >= 8192) == upper).expect("a tag")
}
