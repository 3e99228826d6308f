//! Throw-away PostgreSQL clusters for tests that need a whole server: start, stop, crash
//! (`kill -9`), streaming standbys, pgbench, `pg_upgrade`. Clusters run the PostgreSQL the
//! extension was installed into: `PG_CONFIG` (default Debian's PostgreSQL 15); tests across
//! majors take a second one from `PG_CONFIG_NEW` ([`Install::upgrade_target`]). PostgreSQL
//! refuses to run as root, so as root the server binaries run as the `postgres` OS user.

use anyhow::{bail, Context, Result};
use postgres::{Client, NoTls};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One PostgreSQL installation: its binaries and major version.
#[derive(Clone, Debug)]
pub struct Install {
    pub bin: PathBuf,
    pub major: u32,
}

impl Install {
    /// The installation `pg_config` describes.
    pub fn from_pg_config(pg_config: &str) -> Install {
        let ask = |arg: &str| {
            let out = Command::new(pg_config)
                .arg(arg)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {pg_config}: {e}"));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let version = ask("--version");
        // "PostgreSQL 18.6" or "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)"
        let major = version
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the major version from {version:?}"));
        Install {
            bin: PathBuf::from(ask("--bindir")),
            major,
        }
    }

    /// The installation the tests run on: `PG_BIN` or `PG_CONFIG` (default Debian's 15).
    pub fn current() -> Install {
        let pg_config = std::env::var("PG_CONFIG")
            .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".to_string());
        let mut i = Install::from_pg_config(&pg_config);
        if let Ok(b) = std::env::var("PG_BIN") {
            i.bin = PathBuf::from(b);
        }
        i
    }

    /// The newer major that upgrade tests move to: `PG_CONFIG_NEW` (scripts/test.sh sets it).
    pub fn upgrade_target() -> Install {
        let pg_config = std::env::var("PG_CONFIG_NEW").unwrap_or_else(|_| {
            panic!(
                "set PG_CONFIG_NEW to the pg_config of the PostgreSQL major to upgrade to \
                 (scripts/test.sh does), with ruvector installed there"
            )
        });
        Install::from_pg_config(&pg_config)
    }
}

/// Directory holding the server binaries of [`Install::current`].
pub fn bindir() -> PathBuf {
    Install::current().bin
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A command running as the server's OS user.
fn as_postgres(program: &Path) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    // pgrx appends Rust backtraces to error DETAILs when this is set.
    c.env_remove("RUST_BACKTRACE");
    c
}

fn run(c: &mut Command) -> Result<Output> {
    let desc = format!("{c:?}");
    let out = c.output().with_context(|| format!("cannot run {desc}"))?;
    if !out.status.success() {
        bail!(
            "{desc} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Added to every test cluster's port (`RUVECTOR_TEST_PORT_OFFSET`, default 0), so that the
/// same test can run for two majors at once (scripts/test.sh runs two test binaries at a time).
fn port_offset() -> u16 {
    std::env::var("RUVECTOR_TEST_PORT_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Where test clusters live; `RUVECTOR_TEST_DIR` overrides.
pub fn root_dir() -> PathBuf {
    std::env::var("RUVECTOR_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/tmp/ruvector-server-tests"))
}

/// An empty directory under the test root owned by the server's OS user.
fn make_owned_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(root_dir())?;
    let mut mk = Command::new("install");
    mk.args(["-d", "-m", "0700"]);
    if is_root() {
        mk.args(["-o", "postgres", "-g", "postgres"]);
    }
    run(mk.arg(dir))?;
    Ok(())
}

/// Settings of a primary whose standby checks every page it replays against the full-page
/// image the primary logged (`wal_consistency_checking`): the replication tests.
pub const CHECKED_PRIMARY: &[&str] = &[
    "wal_level = replica",
    "max_wal_senders = 4",
    "wal_consistency_checking = 'all'",
    "max_wal_size = 4GB",
];

pub struct Cluster {
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    pub install: Install,
    bin: PathBuf,
}

impl Cluster {
    /// A fresh cluster of [`Install::current`] (any previous one of this name is removed),
    /// with `settings` appended to postgresql.conf, started.
    pub fn new(name: &str, port: u16, settings: &[&str]) -> Result<Cluster> {
        Cluster::create(&Install::current(), name, port, &[], settings)
    }

    /// A fresh cluster of `install` made by `initdb` with `initdb_args` besides the usual ones,
    /// with `settings` appended to postgresql.conf, started.
    pub fn create(
        install: &Install,
        name: &str,
        port: u16,
        initdb_args: &[&str],
        settings: &[&str],
    ) -> Result<Cluster> {
        let c = Cluster::init(install, name, port, initdb_args, settings)?;
        c.start()?;
        Ok(c)
    }

    /// As [`Cluster::create`], but not started (e.g. the new cluster of `pg_upgrade`).
    pub fn init(
        install: &Install,
        name: &str,
        port: u16,
        initdb_args: &[&str],
        settings: &[&str],
    ) -> Result<Cluster> {
        let c = Cluster::at(install, name, port);
        c.remove()?;
        c.make_dir()?;
        let mut init = as_postgres(&c.bin.join("initdb"));
        init.arg("-D")
            .arg(&c.dir)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .args(initdb_args);
        run(&mut init)?;
        let mut conf = String::from("\n# ruvector server tests\nfsync = on\n");
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        c.append_conf(&conf)?;
        Ok(c)
    }

    fn at(install: &Install, name: &str, port: u16) -> Cluster {
        Cluster {
            name: name.to_string(),
            dir: root_dir().join(name),
            port: port + port_offset(),
            install: install.clone(),
            bin: install.bin.clone(),
        }
    }

    /// A copy of this (stopped) cluster's data directory as cluster `name` on `port`, not
    /// started.
    pub fn copy_to(&self, name: &str, port: u16) -> Result<Cluster> {
        let c = Cluster::at(&self.install, name, port);
        c.remove()?;
        run(Command::new("cp").arg("-a").arg(&self.dir).arg(&c.dir))?;
        std::fs::remove_file(c.dir.join("server.log")).ok();
        Ok(c)
    }

    /// Runs `pg_upgrade` (of this cluster's installation) from the stopped cluster `old` into
    /// this stopped, freshly initialised one, with `mode` (`--copy`, `--link`, ...); returns
    /// its output. It runs in a scratch directory, where it writes its logs.
    pub fn upgrade_from(&self, old: &Cluster, mode: &str) -> Result<Output> {
        let work = root_dir().join(format!("{}-pg_upgrade", self.name));
        let _ = std::fs::remove_dir_all(&work);
        make_owned_dir(&work)?;
        let mut up = as_postgres(&self.bin.join("pg_upgrade"));
        up.current_dir(&work)
            .arg("-b")
            .arg(&old.bin)
            .arg("-B")
            .arg(&self.bin)
            .arg("-d")
            .arg(&old.dir)
            .arg("-D")
            .arg(&self.dir)
            .args(["-U", "postgres", "-p"])
            .arg(old.port.to_string())
            .arg("-P")
            .arg(self.port.to_string())
            .arg(mode);
        run(&mut up).with_context(|| {
            let logs = std::fs::read_dir(self.dir.join("pg_upgrade_output.d"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path().display().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            format!("pg_upgrade {mode} failed; logs under {logs:?}")
        })
    }

    /// Runs `program` of this cluster's installation (e.g. `pg_dump`) with `args`, connected
    /// to this cluster, as the server's OS user; returns its output.
    pub fn run_tool(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut c = as_postgres(&self.bin.join(program));
        c.current_dir("/tmp")
            .args(["-h", "/tmp", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(args);
        run(&mut c)
    }

    /// An empty data directory owned by the server's OS user.
    fn make_dir(&self) -> Result<()> {
        make_owned_dir(&self.dir)
    }

    fn remove(&self) -> Result<()> {
        if self.dir.join("postmaster.pid").exists() {
            let _ = self.stop();
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        }
        Ok(())
    }

    pub fn append_conf(&self, text: &str) -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("postgresql.conf"))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }

    pub fn start(&self) -> Result<()> {
        let mut c = as_postgres(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(&self.dir)
            .args(["-w", "-t", "120", "-l"])
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k /tmp -c listen_addresses='' -c unix_socket_directories=/tmp",
                self.port
            ))
            .arg("start");
        run(&mut c).map(|_| ()).with_context(|| self.log_tail())
    }

    pub fn stop(&self) -> Result<()> {
        let mut c = as_postgres(&self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "-w", "-t", "120", "stop"]);
        run(&mut c).map(|_| ())
    }

    /// Crashes the server: SIGKILL to the postmaster and every one of its processes at once
    /// (as a power loss would stop them), then waits until they are gone.
    pub fn kill9(&self) -> Result<()> {
        let pid_file = std::fs::read_to_string(self.dir.join("postmaster.pid"))?;
        let pid: i32 = pid_file.lines().next().unwrap_or("").trim().parse()?;
        let mut pids = vec![pid];
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let after = stat.rsplit(')').next().unwrap_or("");
            let ppid: i32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if ppid == pid {
                pids.push(child);
            }
        }
        for p in &pids {
            // SAFETY: sending a signal.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while pids
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            if Instant::now() > deadline {
                bail!("server processes survived SIGKILL");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn conninfo(&self, db: &str) -> String {
        format!("host=/tmp port={} user=postgres dbname={db}", self.port)
    }

    /// Connects, retrying while the server is still starting up (e.g. in recovery).
    pub fn connect(&self, db: &str) -> Result<Client> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match Client::connect(&self.conninfo(db), NoTls) {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot connect to {}", self.name))
                }
            }
        }
    }

    /// A connection to `postgres` with the extension created.
    pub fn with_extension(&self) -> Result<Client> {
        let mut c = self.connect("postgres")?;
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS ruvector")
            .context(
                "CREATE EXTENSION ruvector failed: install the extension first (scripts/test.sh \
             does, or `cargo pgrx install`)",
            )?;
        Ok(c)
    }

    /// A streaming standby of this cluster, from `pg_basebackup` over the loopback socket.
    pub fn standby(&self, name: &str, port: u16) -> Result<Cluster> {
        let s = Cluster::at(&self.install, name, port);
        s.remove()?;
        s.make_dir()?;
        let mut c = as_postgres(&self.bin.join("pg_basebackup"));
        c.arg("-D")
            .arg(&s.dir)
            .args([
                "-R", "-X", "stream", "-c", "fast", "-h", "/tmp", "-U", "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string());
        run(&mut c)?;
        s.start()?;
        Ok(s)
    }

    /// Waits until this standby has replayed the primary's current WAL position.
    pub fn wait_for_replay(&self, primary: &mut Client) -> Result<()> {
        let lsn: String = primary
            .query_one("SELECT pg_current_wal_lsn()::text", &[])?
            .get(0);
        let mut me = self.connect("postgres")?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let done: bool = me
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )?
                .get(0);
            if done {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("standby {} did not replay up to {lsn}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs pgbench against database `db` with the given arguments.
    pub fn pgbench(&self, db: &str, args: &[&str]) -> Result<Output> {
        let mut c = Command::new(self.bin.join("pgbench"));
        c.args(["-h", "/tmp", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(args)
            .arg(db);
        run(&mut c)
    }

    /// The end of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "server log of {} (last lines):\n{}",
            self.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    /// Asserts that this standby's log shows no WAL replay failure (`wal_consistency_checking`
    /// reports a replayed page that differs from its full-page image as "inconsistent page",
    /// and stops replay with a PANIC).
    pub fn assert_replayed_cleanly(&self) {
        assert!(
            !self.log_contains("inconsistent page") && !self.log_contains("PANIC"),
            "{}",
            self.log_tail()
        );
    }

    /// Whether the server log contains `needle` (e.g. a PANIC or a crash).
    pub fn log_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(self.dir.join("server.log"))
            .unwrap_or_default()
            .contains(needle)
    }
}

/// A cluster stops when its handle goes; its directory goes too unless the test is failing
/// (then it stays, with its server log, for a look). A full run of the test command otherwise
/// leaves tens of gigabytes behind (the `wal_consistency_checking` standbys alone are 3 GB
/// each). `RUVECTOR_TEST_KEEP=1` keeps every directory.
impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.join("postmaster.pid").exists() {
            let mut c = as_postgres(&self.bin.join("pg_ctl"));
            c.arg("-D")
                .arg(&self.dir)
                .args(["-m", "immediate", "-w", "stop"]);
            let _ = c.output();
        }
        if !std::thread::panicking() && std::env::var_os("RUVECTOR_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = std::fs::remove_dir_all(root_dir().join(format!("{}-pg_upgrade", self.name)));
        }
    }
}
