//! Load script for the task pipeline and the executions API (docs/benchmarks.md, "Server").
//!
//! Starts `certior serve` (release build by default) on a fresh data directory, then measures:
//! 1. plan tasks with 3 gated steps completed per second (submitted with `--submitters`
//!    concurrent clients, counted until every one is terminal);
//! 2. `GET /api/v1/executions/{id}` requests per second and latency percentiles at
//!    `--connections` concurrent keep-alive connections;
//! 3. the server's resident memory when idle and its peak under each load;
//! 4. the server's CPU time per plan task (user and system, all threads), which noisy
//!    neighbours on a shared machine disturb much less than the rate;
//! 5. the queue's claim latency: submission to the `execution.planning` event (a worker claimed
//!    the job and began), for tasks submitted one at a time to an idle server, and under the task load.
//!
//! With `--database-url postgres://…` the servers use that database (give it a fresh one:
//! `createdb -h 127.0.0.1 -U postgres certior_load`) and `--replicas N` starts N of them on it,
//! sharing one data directory (the signing key); submissions go round-robin to the replicas.
//!
//! cargo build --release --bin certior && cargo run --release -p certior-e2e --example load -- \
//!     [--bin target/release/certior] [--tasks 2000] [--submitters 32] [--connections 64] \
//!     [--seconds 10] [--workers 8] [--database-url URL] [--replicas 1]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

struct Options {
    bin: String,
    tasks: usize,
    submitters: usize,
    connections: usize,
    seconds: u64,
    workers: u32,
    database_url: Option<String>,
    replicas: usize,
}

fn options() -> Options {
    let mut o = Options {
        bin: "target/release/certior".into(),
        tasks: 2000,
        submitters: 32,
        connections: 64,
        seconds: 10,
        workers: 8,
        database_url: None,
        replicas: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = || {
            value
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{} needs a number", pair[0]))
        };
        match pair[0].as_str() {
            "--bin" => o.bin = value.clone(),
            "--tasks" => o.tasks = number(),
            "--submitters" => o.submitters = number(),
            "--connections" => o.connections = number(),
            "--seconds" => o.seconds = number() as u64,
            "--workers" => o.workers = number() as u32,
            "--database-url" => o.database_url = Some(value.clone()),
            "--replicas" => o.replicas = number().max(1),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Resident set size of a process, in MiB (Linux `/proc`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// CPU time the process has used so far, in seconds: user and system, all threads (`/proc`
/// counts it in USER_HZ ticks, 100 per second on Linux whatever the kernel's own tick).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime: fields 14 and 15 of the line, so 11 and 12 counting from 0 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Samples the server's RSS every 50 ms until stopped; returns the peak.
fn watch_rss(pid: u32) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while !flag.load(Ordering::Relaxed) {
            peak = peak.max(rss_mib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    (stop, handle)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn get_json(http: &reqwest::Client, key: &str, url: &str) -> Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn plan_task(n: usize) -> Value {
    json!({
        "task": format!("Write note {n} and read it back"),
        "permissions": ["filesystem:read", "filesystem:write:notes"],
        "plan": [
            {"tool": "file_write", "args": {"path": format!("notes/{n}.txt"), "content": format!("note {n}")}},
            {"tool": "file_read", "args": {"path": format!("notes/{n}.txt")}},
            {"tool": "file_list", "args": {"path": "."}}
        ]
    })
}

/// Starts `certior serve` on a free port; returns the process and its base URL.
async fn start_server(o: &Options, data_dir: &std::path::Path) -> (tokio::process::Child, String) {
    let mut command = Command::new(&o.bin);
    command
        .arg("serve")
        .env("CERTIOR_PORT", "0")
        .env("CERTIOR_DATA_DIR", data_dir)
        .env("CERTIOR_LOG", "warn")
        .env("CERTIOR_WORKERS", o.workers.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = &o.database_url {
        command.env("DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!(
            "starting {}: {e} (build it with cargo build --release --bin certior)",
            o.bin
        )
    });
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next_line()
        .await
        .unwrap()
        .expect("server address line");
    let base = line.rsplit(' ').next().unwrap().to_owned();
    (child, base)
}

/// One keep-alive HTTP/1.1 connection for the read load. The client shares the machine's cores
/// with the server it measures, so each request is one prepared write and the reply is read in
/// place: httparse reads the head, and the body is framed by its `Content-Length` (the server
/// sends one on every JSON reply). hyper's client connection took about a quarter more CPU per
/// request (~32 µs against ~25 µs, most of the rest being the kernel's loopback TCP), handing
/// each request and reply between its connection task and the caller.
struct ReadConnection {
    stream: tokio::net::TcpStream,
    reply: Vec<u8>,
}

impl ReadConnection {
    async fn open(authority: &str) -> Self {
        let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            reply: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends `request` (a whole HTTP/1.1 request) and reads the reply; returns its status.
    async fn exchange(&mut self, request: &[u8]) -> u16 {
        self.stream.write_all(request).await.unwrap();
        self.reply.clear();
        loop {
            let read = self.stream.read_buf(&mut self.reply).await.unwrap();
            assert!(read > 0, "the server closed the connection");
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut head = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head_length) = head.parse(&self.reply).unwrap() else {
                continue;
            };
            let body_length: usize = head
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .expect("a reply with Content-Length");
            let status = head.code.unwrap();
            while self.reply.len() < head_length + body_length {
                let read = self.stream.read_buf(&mut self.reply).await.unwrap();
                assert!(read > 0, "the server closed the connection mid-reply");
            }
            return status;
        }
    }
}

/// Seconds from each execution's `execution.created` event to its `execution.planning` event
/// (a worker claimed the job and began), sorted.
async fn claim_latencies(http: &reqwest::Client, key: &str, base: &str, ids: &[String]) -> Vec<f64> {
    let mut latencies = Vec::new();
    for id in ids {
        let events = get_json(http, key, &format!("{base}/api/v1/executions/{id}/events")).await;
        let at = |kind: &str| {
            events["events"]
                .as_array()
                .and_then(|all| all.iter().find(|e| e["type"] == kind))
                .and_then(|e| e["timestamp"].as_f64())
        };
        if let (Some(created), Some(planning)) = (at("execution.created"), at("execution.planning")) {
            latencies.push(planning - created);
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    latencies
}

fn latency_summary(sorted: &[f64]) -> String {
    let ms = |p| percentile(sorted, p) * 1000.0;
    format!(
        "n {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        ms(0.5),
        ms(0.99),
        sorted.last().copied().unwrap_or(0.0) * 1000.0
    )
}

#[tokio::main]
async fn main() {
    let o = options();
    let data = tempfile::tempdir().expect("temporary data dir");
    let mut servers = Vec::new();
    for _ in 0..o.replicas {
        servers.push(start_server(&o, data.path()).await);
    }
    let pid = servers[0].0.id().expect("server pid");
    let bases: Vec<String> = servers.iter().map(|(_, base)| base.clone()).collect();
    let base = bases[0].clone();
    println!(
        "{} replica(s) on {}, {} workers each",
        o.replicas,
        if o.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        o.workers
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let key = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "load@example.com", "password": "password-1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_mib(pid);
    println!("server RSS idle: {idle:.1} MiB");

    // 0. Claim latency on an idle queue: one task at a time, each awaited to its end.
    let mut idle_ids = Vec::new();
    for n in 0..50 {
        let target = &bases[n % bases.len()];
        let reply = http
            .post(format!("{target}/api/v1/tasks"))
            .bearer_auth(&key)
            .json(&plan_task(1_000_000 + n))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
        let id = reply.json::<Value>().await.unwrap()["execution_id"]
            .as_str()
            .unwrap()
            .to_owned();
        while get_json(&http, &key, &format!("{base}/api/v1/executions/{id}")).await["completed_at"].is_null() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        idle_ids.push(id);
    }
    let idle_claims = claim_latencies(&http, &key, &base, &idle_ids).await;
    println!("claim latency, idle queue: {}", latency_summary(&idle_claims));

    // 1. Plan tasks with 3 gated steps, submitted concurrently, counted until all are terminal.
    let (stop, peak) = watch_rss(pid);
    let (cpu_before, client_cpu_before) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut submitters = Vec::new();
    for s in 0..o.submitters {
        let (http, base, key, next) = (http.clone(), bases[s % bases.len()].clone(), key.clone(), next.clone());
        let total = o.tasks as u64;
        submitters.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return ids;
                }
                let reply = http
                    .post(format!("{base}/api/v1/tasks"))
                    .bearer_auth(&key)
                    .json(&plan_task(n as usize))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 201);
                ids.push(
                    reply.json::<Value>().await.unwrap()["execution_id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }));
    }
    let mut ids = Vec::new();
    for s in submitters {
        ids.extend(s.await.unwrap());
    }
    let submitted = started.elapsed();
    loop {
        let mut live = 0;
        for status in ["queued", "planning", "executing", "verifying"] {
            let page = get_json(
                &http,
                &key,
                &format!("{base}/api/v1/executions?status={status}&limit=1"),
            )
            .await;
            live += page.as_array().map_or(0, Vec::len);
        }
        if live == 0 {
            break;
        }
        // Each round is four status-filtered lists (served by the status index since
        // migration 0009); polling much more often would still take a share of the server.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = started.elapsed();
    let cpu_per_task = (cpu_seconds(pid) - cpu_before) / o.tasks as f64;
    let client_cpu_per_task = (cpu_seconds(std::process::id()) - client_cpu_before) / o.tasks as f64;
    stop.store(true, Ordering::Relaxed);
    let peak_tasks = peak.await.unwrap();
    let failed = get_json(
        &http,
        &key,
        &format!("{base}/api/v1/executions?status=failed&limit=100"),
    )
    .await;
    println!(
        "plan tasks (3 gated steps): {} submitted in {:.2} s ({:.0}/s), all terminal after {:.2} s: {:.0} tasks/s completed, {} failed; peak RSS {peak_tasks:.1} MiB",
        ids.len(),
        submitted.as_secs_f64(),
        ids.len() as f64 / submitted.as_secs_f64(),
        finished.as_secs_f64(),
        ids.len() as f64 / finished.as_secs_f64(),
        failed.as_array().map_or(0, Vec::len),
    );
    // With replicas, the first one's share of the tasks is not known: this is its CPU over all.
    println!(
        "CPU per task: server {:.0} µs, this load client {:.0} µs",
        cpu_per_task * 1e6,
        client_cpu_per_task * 1e6
    );
    let loaded_claims = claim_latencies(&http, &key, &base, &ids).await;
    println!(
        "claim latency under the task load (queueing included): {}",
        latency_summary(&loaded_claims)
    );

    // 2. GET /executions/{id} at N concurrent connections.
    let authority = base.trim_start_matches("http://").to_owned();
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        ids.iter()
            .map(|id| {
                format!(
                    "GET /api/v1/executions/{id} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\n\r\n"
                )
                .into_bytes()
            })
            .collect(),
    );
    let (stop, peak) = watch_rss(pid);
    let (server_cpu_before, client_cpu_before) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let mut readers = Vec::new();
    for c in 0..o.connections {
        let (authority, requests) = (authority.clone(), requests.clone());
        readers.push(tokio::spawn(async move {
            let mut connection = ReadConnection::open(&authority).await;
            let mut latencies = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let request = &requests[i % requests.len()];
                i += 7;
                let t = Instant::now();
                assert_eq!(connection.exchange(request).await, 200);
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for r in readers {
        latencies.extend(r.await.unwrap());
    }
    let reads = latencies.len() as f64;
    let server_cpu_per_read = (cpu_seconds(pid) - server_cpu_before) / reads;
    let client_cpu_per_read = (cpu_seconds(std::process::id()) - client_cpu_before) / reads;
    stop.store(true, Ordering::Relaxed);
    let peak_reads = peak.await.unwrap();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "GET /executions/{{id}} at {} connections: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; peak RSS {peak_reads:.1} MiB",
        o.connections,
        latencies.len() as f64 / o.seconds as f64,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
    );
    // Both share the machine's cores: what the client takes is not left for the server.
    println!(
        "CPU per read: server {:.1} µs, this load client {:.1} µs",
        server_cpu_per_read * 1e6,
        client_cpu_per_read * 1e6
    );
    for (mut child, _) in servers {
        let _ = child.kill().await;
    }
}
