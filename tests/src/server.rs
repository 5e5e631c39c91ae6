//! One `idp` process per test: its own temporary directory, database (see [`crate::backend`]),
//! master key and ports.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::backend::{Backend, Database, backend, psql};

/// Code of the organisation that owns every client a test registers.
const TEST_ORG: &str = "e2e-ministry";

/// How long `idp` may take to answer `/readyz` with 200 after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `idp` with its own data directory, killed when dropped.
pub struct Idp {
    dir: tempfile::TempDir,
    public_port: u16,
    admin_port: u16,
    admin_token: String,
    child: Option<Child>,
    org_created: Mutex<bool>,
    /// Settings added after the harness defaults (so they override them), for every process this
    /// `Idp` starts: itself, `bootstrap-admin`, restarts and second nodes.
    extra_env: Vec<(String, String)>,
    /// Where this `Idp`'s durable state lives; shared by its restarts and second nodes.
    database: Database,
}

/// A client registered through `idp-admin client register`.
#[derive(Clone, Debug)]
pub struct TestClient {
    /// The `client_id` the admin API assigned.
    pub client_id: String,
    /// The secret printed once at registration (`None` for public and `private_key_jwt` clients).
    pub secret: Option<String>,
    /// The client's (only) registered redirect URI, `http://127.0.0.1:<unused port>/cb`.
    pub redirect_uri: String,
    /// The `ClientView` JSON the admin API returned.
    pub view: Value,
}

/// A citizen account created through `idp-admin user create`.
#[derive(Clone, Debug)]
pub struct Citizen {
    /// National ID number (12 digits), usable as the login identifier.
    pub national_id: String,
    /// Full name, expected back as the `name` claim.
    pub full_name: String,
    /// Email address, also a login identifier.
    pub email: String,
    /// The account password.
    pub password: String,
    /// The `UserView` JSON the admin API returned.
    pub view: Value,
}

impl Idp {
    /// Creates a fresh data directory, bootstraps an admin token and starts `idp`, returning once
    /// `GET /readyz` answers 200.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Like [`Idp::start`], with extra settings (e.g. `IDP_REDIS_URL`) that override the harness
    /// defaults; second nodes and restarts get them too.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let mut idp = Self::prepare(env);
        idp.spawn();
        idp
    }

    /// Like [`Idp::start_with_env`], but returns as soon as `/healthz` answers, without waiting
    /// for `/readyz` (for nodes started while a dependency is down).
    pub fn start_unready_with_env(env: &[(&str, &str)]) -> Self {
        let mut idp = Self::prepare(env);
        idp.spawn_child();
        idp.wait_for("/healthz");
        idp
    }

    fn prepare(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("motcua-e2e-").tempdir().expect("create temp dir");
        let [public_port, admin_port] = free_ports();
        let mut extra_env: Vec<(String, String)> = Vec::new();
        // Production shape: Redis for every node (first, so a test's own IDP_REDIS_URL wins, e.g.
        // an unreachable one). Browser sessions stay in the database, the default an operator
        // gets by setting only IDP_DATABASE_URL and IDP_REDIS_URL.
        if let Backend::Production { redis_url, .. } = backend() {
            extra_env.push(("IDP_REDIS_URL".into(), redis_url.clone()));
        }
        extra_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        // Tests share one Redis: each cluster gets its own key prefix (its directory's unique
        // name), so throttling counters and key notices of one test never reach another.
        let has = |key: &str| extra_env.iter().any(|(k, _)| k == key);
        if has("IDP_REDIS_URL") && !has("IDP_REDIS_PREFIX") {
            let name = dir.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            extra_env.push(("IDP_REDIS_PREFIX".into(), format!("{name}:")));
        }
        let database = Database::create(dir.path());
        let mut idp = Idp {
            dir,
            public_port,
            admin_port,
            admin_token: String::new(),
            child: None,
            org_created: Mutex::new(false),
            extra_env,
            database,
        };
        idp.admin_token = idp.bootstrap_admin();
        idp
    }

    /// The issuer URL, `http://127.0.0.1:<public port>` (no trailing slash), or the `IDP_ISSUER`
    /// this `Idp` was started with (see [`Idp::start_localhost`]).
    pub fn issuer(&self) -> String {
        match self.extra_env.iter().rev().find(|(k, _)| k == "IDP_ISSUER") {
            Some((_, issuer)) => issuer.clone(),
            None => format!("http://127.0.0.1:{}", self.public_port),
        }
    }

    /// An absolute URL on the public listener.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.issuer())).expect("valid URL")
    }

    /// The admin API base URL.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The `security-admin` token printed by `idp bootstrap-admin`.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The temporary data directory (database, master key, server log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything `idp` wrote to stdout and stderr so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// An HTTP client as an RP uses it: no redirects followed, no cookies, 10 s timeout.
    pub fn http(&self) -> reqwest::blocking::Client {
        http_client()
    }

    /// Sets `key` to `value` for the processes started from now on (after [`Idp::restart`]),
    /// e.g. a database URL asking for TLS.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    /// Stops `idp` gracefully (SIGTERM, then SIGKILL after 10 s) and starts it again on the same
    /// data directory and ports.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills `idp` with SIGKILL (`kill -9`: no drain, no cleanup) and waits for it to be gone.
    pub fn crash(&mut self) {
        self.kill();
    }

    /// Starts `idp` again after [`Idp::crash`], on the same database and ports, once `/readyz`
    /// answers 200.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "idp is still running; crash() or restart() it instead");
        self.spawn();
    }

    /// The `IDP_DATABASE_URL` every process of this `Idp` gets.
    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// The name of this `Idp`'s PostgreSQL database (production mode), `None` on SQLite.
    pub fn database_name(&self) -> Option<&str> {
        match &self.database {
            Database::Postgres { name, .. } => Some(name),
            Database::Sqlite(_) => None,
        }
    }

    /// `sqlite` or `postgres`: which SQL dialect [`Idp::sql`] speaks.
    pub fn engine(&self) -> &'static str {
        match self.database {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }

    /// Runs SQL on this `Idp`'s database behind the server's back (as another node or a
    /// database administrator would): through the `sqlite3` CLI or `psql`. The caller checks
    /// the status; `None` when the embedded run has no `sqlite3` CLI (the test should say it skips).
    pub fn sql(&self, sql: &str) -> Option<Output> {
        match &self.database {
            Database::Sqlite(path) => {
                Command::new("sqlite3").arg("-cmd").arg(".timeout 5000").arg(path).arg(sql).output().ok()
            }
            Database::Postgres { url, .. } => Some(psql(url, sql)),
        }
    }

    /// Starts a second `idp` node of the same cluster: same database (the SQLite file, or the
    /// PostgreSQL database in production mode), data directory, master key, issuer and extra
    /// settings (so the same Redis and key prefix, when there is one), its own ports and log
    /// (`idp-node2.log`).
    pub fn start_second_node(&self) -> Node {
        let mut node = self.spawn_second_node();
        node.wait_ready();
        node
    }

    /// Two nodes of one cluster started at the same moment on a fresh database (as compose
    /// starts them): both are spawned before either is waited for.
    pub fn start_two_nodes_together(env: &[(&str, &str)]) -> (Self, Node) {
        let mut idp = Self::prepare(env);
        idp.spawn_child();
        let mut node = idp.spawn_second_node();
        idp.wait_ready();
        node.wait_ready();
        (idp, node)
    }

    fn spawn_second_node(&self) -> Node {
        // The first node may not have bound its ports yet (started together):
        // never hand them out again.
        let [public_port, admin_port] = loop {
            let ports = free_ports();
            if !ports.iter().any(|p| [self.public_port, self.admin_port].contains(p)) {
                break ports;
            }
        };
        let log_path = self.dir.path().join("idp-node2.log");
        let log = OpenOptions::new().create(true).append(true).open(&log_path).expect("open node log");
        let child = self
            .idp_command()
            .env("IDP_LISTEN", format!("127.0.0.1:{public_port}"))
            .env("IDP_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn second idp");
        Node { public_port, admin_port, log_path, child: Some(child) }
    }

    /// Runs `idp-admin --url <admin API> --token <token> ARGS…`.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.admin_with_stdin(args, None)
    }

    /// Runs `idp-admin` with `--json` and returns the parsed stdout; fails the test when the
    /// command fails.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        self.admin_json_with_stdin(args, None)
    }

    /// Runs `idp-admin` with `--json` and `stdin` on its standard input.
    pub fn admin_json_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.admin_with_stdin(&all, stdin);
        assert!(
            out.status.success(),
            "idp-admin {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("idp-admin {args:?} --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }

    /// Runs `idp-admin` with the given standard input (`None`: empty).
    pub fn admin_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        admin_command(&self.admin_url(), &self.admin_token, args, stdin)
    }

    /// Runs `idp-admin` with its standard output a pipe whose reading end is
    /// closed before it starts, as `idp-admin … | head` closes it after a line.
    pub fn admin_into_closed_pipe(&self, args: &[&str]) -> Output {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = clean_command(&binary("idp-admin"));
        cmd.arg("--url").arg(self.admin_url()).arg("--token").arg(&self.admin_token).args(args);
        cmd.stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped());
        cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
    }

    /// Creates the test organisation once per `Idp`.
    pub fn ensure_org(&self) -> &'static str {
        let mut created = self.org_created.lock().expect("org lock");
        if !*created {
            self.admin_json(&["org", "create", "--code", TEST_ORG, "--name", "E2E Ministry", "--kind", "ministry"]);
            *created = true;
        }
        TEST_ORG
    }

    /// Registers a confidential client (unless `extra` carries its own `--type`) owned by the
    /// test organisation, with redirect URI `http://127.0.0.1:<unused port>/cb`. `extra` is
    /// appended to `idp-admin client register` (e.g. `["--scope", "openid", …]`).
    pub fn register_client(&self, extra: &[&str]) -> TestClient {
        let org = self.ensure_org();
        let [port] = free_ports();
        let redirect_uri = format!("http://127.0.0.1:{port}/cb");
        let name = format!("RP {port}");
        let mut args = vec!["client", "register", "--name", &name, "--org", org, "--redirect-uri", &redirect_uri];
        if !extra.contains(&"--type") {
            args.extend_from_slice(&["--type", "confidential"]);
        }
        args.extend_from_slice(extra);
        let out = self.admin_json(&args);
        let view = out["client"].clone();
        let client_id = view["client_id"].as_str().unwrap_or_else(|| panic!("no client.client_id in {out}")).to_owned();
        let secret = out["client_secret"].as_str().map(str::to_owned);
        TestClient { client_id, secret, redirect_uri, view }
    }

    /// Creates a citizen through `idp-admin user create --password-stdin`.
    pub fn create_user(&self, national_id: &str, full_name: &str, email: &str, password: &str) -> Citizen {
        let view = self.admin_json_with_stdin(
            &[
                "user",
                "create",
                "--national-id",
                national_id,
                "--name",
                full_name,
                "--email",
                email,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        Citizen {
            national_id: national_id.to_owned(),
            full_name: full_name.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            view,
        }
    }

    /// Creates the default test citizen, Nguyễn Văn An.
    pub fn citizen(&self) -> Citizen {
        self.create_user("001090012345", "Nguyễn Văn An", "an.nguyen@example.vn", "Hoa-sen-no-ro-2024")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("idp.log")
    }

    /// The `idp` command with this test's environment.
    fn idp_command(&self) -> Command {
        let mut cmd = clean_command(&binary("idp"));
        let dir = self.dir.path();
        cmd.current_dir(dir)
            .env("IDP_ISSUER", self.issuer())
            .env("IDP_LISTEN", format!("127.0.0.1:{}", self.public_port))
            .env("IDP_ADMIN_LISTEN", format!("127.0.0.1:{}", self.admin_port))
            .env("IDP_DATABASE_URL", self.database.url())
            .env("IDP_MASTER_KEY_FILE", dir.join("master.key"))
            // Cheap hashes: the suite runs hundreds of logins on two cores.
            .env("IDP_ARGON2_MEMORY_KIB", "1024")
            .env("IDP_ARGON2_ITERATIONS", "1")
            // Key changes made on another node are picked up within a second.
            .env("IDP_KEY_RELOAD_INTERVAL", "1")
            // The test relying parties publish their JWKS on loopback.
            .env("IDP_OUTBOUND_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `idp bootstrap-admin` and returns the token it prints alone on stdout.
    fn bootstrap_admin(&self) -> String {
        let mut cmd = self.idp_command();
        cmd.arg("bootstrap-admin");
        let out = run_with_stdin(cmd, None);
        assert!(
            out.status.success(),
            "idp bootstrap-admin failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "idp bootstrap-admin must print the token alone on stdout, printed: {stdout:?}");
        lines[0].trim().to_owned()
    }

    fn spawn(&mut self) {
        self.spawn_child();
        self.wait_ready();
    }

    fn spawn_child(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(self.log_path()).expect("open server log");
        let child = self
            .idp_command()
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn idp");
        self.child = Some(child);
    }

    fn wait_ready(&mut self) {
        self.wait_for("/readyz");
    }

    /// Waits until `path` answers 200.
    fn wait_for(&mut self, path: &str) {
        let http = http_client();
        let readyz = self.url(path);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("idp spawned");
            if let Some(status) = child.try_wait().expect("poll idp") {
                self.child = None;
                panic!("idp exited ({status}) before it was ready; its log:\n{}", self.server_log());
            }
            if let Ok(resp) = http.get(readyz.clone()).send()
                && resp.status() == reqwest::StatusCode::OK
            {
                return;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("idp did not answer 200 on {path} within {READY_TIMEOUT:?}; its log:\n{}", self.server_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Graceful stop: SIGTERM through `kill(1)` (the crate forbids unsafe, so no libc), then
    /// SIGKILL if `idp` has not exited after 10 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The running `idp`'s process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("idp running").id()
    }

    /// Sends SIGTERM (through `kill(1)`) and returns at once, for tests of graceful shutdown.
    pub fn signal_term(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `timeout` for `idp` to exit; its exit status, or `None` while it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().expect("idp spawned").try_wait().expect("poll idp") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // libtest shows a failed test's output: put the server's side of the story there.
            let log = self.server_log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- idp log (last {} lines) ----", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl Idp {
    /// Like [`Idp::start_with_env`], with issuer `http://localhost:<public port>`: WebAuthn refuses
    /// an IP address as RP ID (WebAuthn L2 §5.1.3: the effective domain must be a valid domain), so
    /// browser tests with passkeys need a host name. The listener stays on 127.0.0.1.
    pub fn start_localhost(env: &[(&str, &str)]) -> Self {
        let mut idp = Self::prepare(env);
        let issuer = format!("http://localhost:{}", idp.public_port);
        idp.extra_env.push(("IDP_ISSUER".into(), issuer));
        idp.spawn();
        idp
    }
}

/// A second `idp` node on an [`Idp`]'s database (see [`Idp::start_second_node`]), killed when
/// dropped.
pub struct Node {
    public_port: u16,
    admin_port: u16,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// An absolute URL on this node's public listener (its issuer is the first node's).
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path}", self.public_port)).expect("valid URL")
    }

    /// This node's admin API base URL.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Everything this node wrote so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let http = http_client();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("node spawned");
            if let Some(status) = child.try_wait().expect("poll node") {
                panic!("second idp exited ({status}) before it was ready; its log:\n{}", self.server_log());
            }
            if let Ok(resp) = http.get(self.url("/readyz")).send()
                && resp.status() == reqwest::StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "second idp not ready in {READY_TIMEOUT:?}:\n{}", self.server_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- second node log ----\n{}", self.server_log());
        }
    }
}

/// Path of a workspace binary, next to the test executable (`target/<profile>/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // The test executable is target/<profile>/deps/<name>-<hash>.
    let profile_dir = exe.parent().and_then(Path::parent).expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} not found. Run the suite with `cargo test --workspace`: the idp and admin-cli \
         packages have integration tests, so cargo builds both binaries first.",
        path.display()
    );
    path
}

/// An HTTP client that follows no redirects and keeps no cookies.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build HTTP client")
}

/// Ports free at the time of asking (bound on 127.0.0.1, then released together so the same
/// call never returns one port twice).
///
/// Ports come from below Linux's ephemeral range (32768–60999): a port the kernel handed out
/// with `bind(0)` is released before `idp` binds it, and in between any outgoing connection of
/// a test running in parallel (HTTP clients, PostgreSQL, Redis) may be given that same port by
/// the kernel. A random port under the range can only be picked again by another test's
/// `free_ports`, one chance in 12,000.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use std::hash::{BuildHasher, Hasher};
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(N);
    for _ in 0..10_000 {
        if listeners.len() == N {
            break;
        }
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(listeners.len());
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(l);
        }
    }
    while listeners.len() < N {
        listeners.push(TcpListener::bind("127.0.0.1:0").expect("bind a free port"));
    }
    std::array::from_fn(|i| listeners[i].local_addr().expect("local addr").port())
}

/// A command without the caller's `IDP_*` and `REDIS_URL` settings, so a developer's shell
/// cannot change what a test starts.
fn clean_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("IDP_") || name == "REDIS_URL" {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Runs `idp-admin --url URL --token TOKEN ARGS…` (for tests of wrong tokens and unreachable
/// servers; [`Idp::admin`] is the usual way).
pub fn admin_command(url: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = clean_command(&binary("idp-admin"));
    cmd.arg("--url").arg(url).arg("--token").arg(token).args(args);
    run_with_stdin(cmd, stdin)
}

fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait for command")
}
