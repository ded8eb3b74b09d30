//! A throwaway PostgreSQL for tests: `initdb` in a temporary folder and a
//! free port, run as the `postgres` user when the tests run as root
//! (PostgreSQL refuses to run as root). Stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

/// The server binaries: Debian keeps them under /usr/lib/postgresql/<v>/bin.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().expect("PostgreSQL is not installed (apt-get install postgresql)")
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A PostgreSQL program, run as `postgres` when we are root.
fn command(bin: &Path, program: &str) -> Command {
    let path = bin.join(program);
    if !is_root() {
        return Command::new(path);
    }
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(path);
    c
}

fn run(bin: &Path, program: &str, args: &[&str]) {
    let output = command(bin, program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr));
}

pub fn start_postgres() -> Postgres {
    let bin = bin_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    // The postgres user must reach the folder.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let data = dir.path().join("data");
    let port = super::free_port();
    let data_s = data.display().to_string();
    run(&bin, "initdb", &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"]);
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
    let log = dir.path().join("postgres.log").display().to_string();
    run(&bin, "pg_ctl", &["-D", &data_s, "-o", &options, "-l", &log, "-w", "start"]);
    Postgres { port, bin, data, _dir: dir }
}

impl Postgres {
    pub fn conn_string(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    /// One value from a query, as text (psql).
    pub fn query(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres", "-tAc", sql])
            .output()
            .expect("psql");
        assert!(output.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = command(&self.bin, "pg_ctl").args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}
