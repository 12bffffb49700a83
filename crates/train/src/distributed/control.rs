//! The connections of a multi-node run: every rank connects to rank 0 (the coordinator's
//! `HOST:PORT`), says who it is and what it trains, and is refused when that differs from rank
//! 0's; rank 0 sends its checkpoint to resume from. Then each step's gradient bucket goes to
//! rank 0, which sums them in rank order and sends the sum back; between the buckets both ends
//! send a heartbeat, so that a rank that dies, fails or goes silent stops the others within the
//! peer timeout, with an error naming it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::reducer::Watch;
use crate::cluster::Cluster;
use crate::error::{Result, TrainError, io_err};

/// What a rank trains, as fingerprints: ranks that differ in any are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    /// The rank saying hello.
    pub rank: usize,
    /// Ranks of the run, as this one was told.
    pub nodes: usize,
    /// Devices on this rank.
    pub devices: usize,
    /// The training settings (less the paths and reporting settings, which may differ).
    pub settings: u64,
    /// The training and validation examples (ids and labels).
    pub data: u64,
    /// The model's parameter names and shapes.
    pub model: u64,
}

impl Hello {
    /// What differs between this rank's hello and rank 0's, if anything.
    fn differences(&self, leader: &Hello) -> Option<String> {
        let checks = [
            (
                self.nodes != leader.nodes,
                format!("--nodes {} (rank 0: {})", self.nodes, leader.nodes),
            ),
            (
                self.devices != leader.devices,
                format!("--devices {} (rank 0: {})", self.devices, leader.devices),
            ),
            (
                self.settings != leader.settings,
                "its training settings".to_string(),
            ),
            (
                self.data != leader.data,
                "its training data (rows, tokens or labels)".to_string(),
            ),
            (
                self.model != leader.model,
                "its model (parameter names or shapes)".to_string(),
            ),
        ];
        let found: Vec<String> = checks
            .into_iter()
            .filter(|(d, _)| *d)
            .map(|(_, w)| w)
            .collect();
        (!found.is_empty()).then(|| {
            format!(
                "rank {} differs from rank 0 in {}",
                self.rank,
                found.join(", ")
            )
        })
    }
}

/// Rank 0's answer to a hello.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    /// Joined: the checkpoint files to resume from follow (name and bytes, in order).
    Welcome { files: Vec<(String, u64)> },
    /// Refused, with why.
    Refused(String),
}

/// One end of a control connection.
struct Link {
    /// The rank at the other end.
    rank: usize,
    writer: Mutex<TcpStream>,
    /// The other end finished cleanly (`done` from a rank, `bye` from rank 0).
    finished: AtomicBool,
    /// Gradient buckets from the other end, as the reader takes them off the connection.
    buckets: Mutex<Option<mpsc::Receiver<Vec<f32>>>>,
}

impl Link {
    /// A link to `rank` over `stream`.
    fn new(rank: usize, stream: TcpStream) -> Arc<Self> {
        Arc::new(Self {
            rank,
            writer: Mutex::new(stream),
            finished: AtomicBool::new(false),
            buckets: Mutex::new(None),
        })
    }

    /// Sends one line (a failed write is noticed by the reading side).
    fn send(&self, line: &str) {
        let mut writer = self.writer.lock().expect("no panic holding it");
        let _ = writer.write_all(format!("{line}\n").as_bytes());
    }

    /// Sends a bucket: `bucket N` and N little-endian f32s.
    fn send_bucket(&self, values: &[f32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut writer = self.writer.lock().expect("no panic holding it");
        let _ = writer
            .write_all(format!("bucket {}\n", values.len()).as_bytes())
            .and_then(|()| writer.write_all(&bytes));
    }

    /// The next bucket from the other end, waiting while `watch` says the run goes on.
    fn next_bucket(&self, watch: &Watch) -> Result<Vec<f32>> {
        let buckets = self.buckets.lock().expect("no panic holding it");
        let buckets = buckets.as_ref().expect("the link is watched");
        loop {
            match buckets.recv_timeout(Duration::from_millis(50)) {
                Ok(bucket) => return Ok(bucket),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let why = watch
                        .lost()
                        .unwrap_or_else(|| format!("rank {} disconnected", self.rank));
                    return Err(TrainError::PeerLost(why));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Some(why) = watch.lost() {
                return Err(TrainError::PeerLost(why));
            }
        }
    }
}

/// This rank's control connections: to every other rank on rank 0, to rank 0 elsewhere.
pub(crate) struct Control {
    rank: usize,
    links: Arc<Vec<Arc<Link>>>,
    watch: Arc<Watch>,
    peer_timeout: Duration,
}

/// The coordinator's host and port.
fn coordinator(cluster: &Cluster) -> Result<(String, u16)> {
    let bad = || {
        TrainError::Settings(format!(
            "--coordinator {}: expected HOST:PORT (e.g. 10.0.0.1:29500)",
            cluster.coordinator
        ))
    };
    let (host, port) = cluster.coordinator.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// A collective error at `what`.
fn net_err(what: String) -> impl FnOnce(std::io::Error) -> TrainError {
    move |e| TrainError::Collective(format!("{what}: {e}"))
}

impl Control {
    /// Joins the run of `cluster` as `hello.rank`: rank 0 listens on the coordinator's port,
    /// waits for every rank and sends each the files of `checkpoint`; any other rank connects,
    /// and keeps what it is sent in `received/checkpoints/latest`.
    pub fn start(
        cluster: &Cluster,
        hello: Hello,
        checkpoint: Option<&Path>,
        received: &Path,
        watch: Arc<Watch>,
    ) -> Result<Self> {
        let (host, port) = coordinator(cluster)?;
        let links = if hello.rank == 0 {
            lead(cluster, port, hello, checkpoint)?
        } else {
            vec![join(cluster, &host, port, hello, received)?]
        };
        let control = Self {
            rank: hello.rank,
            links: Arc::new(links),
            watch,
            peer_timeout: cluster.peer_timeout,
        };
        control.watch_links()?;
        Ok(control)
    }

    /// The sum of every rank's `bucket`, element by element, added in rank order on rank 0
    /// (so every rank gets the same bits).
    pub fn sum(&self, mut bucket: Vec<f32>) -> Result<Vec<f32>> {
        if self.rank != 0 {
            self.links[0].send_bucket(&bucket);
            return self.links[0].next_bucket(&self.watch);
        }
        for link in self.links.iter() {
            let other = link.next_bucket(&self.watch)?;
            if other.len() != bucket.len() {
                let why = format!(
                    "rank {} sent {} gradient values, rank 0 has {}",
                    link.rank,
                    other.len(),
                    bucket.len()
                );
                self.watch.lose(why.clone());
                return Err(TrainError::PeerLost(why));
            }
            bucket.iter_mut().zip(other).for_each(|(a, b)| *a += b);
        }
        for link in self.links.iter() {
            link.send_bucket(&bucket);
        }
        Ok(bucket)
    }

    /// Starts the heartbeat and a reader per link.
    fn watch_links(&self) -> Result<()> {
        for link in self.links.iter() {
            let reader = link
                .writer
                .lock()
                .expect("no panic holding it")
                .try_clone()
                .map_err(net_err(format!("rank {}", link.rank)))?;
            reader
                .set_read_timeout(Some(self.peer_timeout))
                .map_err(net_err(format!("rank {}", link.rank)))?;
            let (link, links, watch, leader) = (
                link.clone(),
                self.links.clone(),
                self.watch.clone(),
                self.rank == 0,
            );
            let (send, receive) = mpsc::channel();
            *link.buckets.lock().expect("no panic holding it") = Some(receive);
            let timeout = self.peer_timeout;
            let name = format!("rank {}", link.rank);
            std::thread::Builder::new()
                .name(format!("attn {name} link"))
                .spawn(move || {
                    let reader = BufReader::new(reader);
                    read_link(reader, &link, &links, &watch, (leader, timeout), &send);
                })
                .map_err(net_err(name))?;
        }
        let links = self.links.clone();
        let beat = (self.peer_timeout / 4).min(Duration::from_secs(2));
        std::thread::Builder::new()
            .name("attn heartbeat".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(beat);
                    for link in links.iter() {
                        link.send("alive");
                    }
                }
            })
            .map_err(net_err("the heartbeat".into()))?;
        Ok(())
    }

    /// Tells the other ranks that this one failed, and why.
    pub fn fail(&self, why: &str) {
        let line = why.replace('\n', " ");
        for link in self.links.iter() {
            link.send(&format!("failed {line}"));
        }
    }

    /// Waits until every rank has finished training (then rank 0 may take the collective down):
    /// a rank says `done` and waits for rank 0's `bye`, which comes once all are done.
    pub fn finish(&self) -> Result<()> {
        if self.rank != 0 {
            self.links[0].send("done");
        }
        let started = Instant::now();
        while !self
            .links
            .iter()
            .all(|l| l.finished.load(Ordering::Acquire))
        {
            if let Some(why) = self.watch.lost() {
                return Err(TrainError::PeerLost(why));
            }
            if started.elapsed() > self.peer_timeout * 10 {
                return Err(TrainError::PeerLost(
                    "the ranks did not all finish".to_string(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.rank == 0 {
            for link in self.links.iter() {
                link.send("bye");
            }
        }
        Ok(())
    }
}

/// Reads one link until it ends, recording in `watch` why, unless it finished cleanly.
fn read_link(
    mut reader: BufReader<TcpStream>,
    link: &Link,
    links: &[Arc<Link>],
    watch: &Watch,
    (leader, timeout): (bool, Duration),
    buckets: &mpsc::Sender<Vec<f32>>,
) {
    let rank = link.rank;
    let lost = loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break format!("rank {rank} disconnected"),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break format!("rank {rank} sent nothing for {} s", timeout.as_secs());
            }
            Err(e) => break format!("rank {rank} disconnected: {e}"),
        }
        let line = line.trim_end();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "done" | "bye" => link.finished.store(true, Ordering::Release),
            "bucket" => match read_bucket(&mut reader, rest) {
                Ok(bucket) => {
                    // The receiver is gone only when the run has stopped.
                    let _ = buckets.send(bucket);
                }
                Err(e) => break format!("rank {rank} disconnected: {e}"),
            },
            "failed" => break format!("rank {rank} failed: {rest}"),
            "lost" => break rest.to_string(),
            _ => {}
        }
    };
    if link.finished.load(Ordering::Acquire) {
        return;
    }
    watch.lose(lost.clone());
    if leader {
        for other in links.iter().filter(|l| l.rank != rank) {
            other.send(&format!("lost {lost}"));
        }
    }
}

/// The values of a bucket of `count` f32s.
fn read_bucket(reader: &mut BufReader<TcpStream>, count: &str) -> std::io::Result<Vec<f32>> {
    let count: usize = count.parse().map_err(std::io::Error::other)?;
    let mut bytes = vec![0; count * 4];
    reader.read_exact(&mut bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Reads one JSON line.
fn read_json<T: for<'de> Deserialize<'de>>(
    reader: &mut BufReader<TcpStream>,
    what: &str,
) -> Result<T> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(net_err(what.to_string()))?;
    serde_json::from_str(&line).map_err(|e| {
        TrainError::Collective(format!(
            "{what}: not a message of this version of attn ({e})"
        ))
    })
}

/// Rank 0's side: waits for the other ranks on the coordinator's port, checks their hellos against
/// its own, and welcomes them with the checkpoint's files.
fn lead(
    cluster: &Cluster,
    port: u16,
    own: Hello,
    checkpoint: Option<&Path>,
) -> Result<Vec<Arc<Link>>> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(net_err(format!(
        "rank 0 cannot listen on the control port {port}"
    )))?;
    listener
        .set_nonblocking(true)
        .map_err(net_err(format!("port {port}")))?;
    let deadline = Instant::now() + cluster.rendezvous;
    let mut joined: Vec<(Hello, BufReader<TcpStream>)> = Vec::new();
    while joined.len() + 1 < own.nodes {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<String> = (1..own.nodes)
                        .filter(|r| !joined.iter().any(|(h, _)| h.rank == *r))
                        .map(|r| r.to_string())
                        .collect();
                    return Err(TrainError::PeerLost(format!(
                        "rank(s) {} did not join within {} s",
                        missing.join(", "),
                        cluster.rendezvous.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(net_err(format!("port {port}"))(e)),
        };
        stream
            .set_nonblocking(false)
            .map_err(net_err("a joining rank".into()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(net_err("a joining rank".into()))?;
        let mut reader = BufReader::new(stream);
        let hello: Hello = read_json(&mut reader, "a joining rank's hello")?;
        let refusal = if hello.rank == 0 || hello.rank >= own.nodes {
            Some(format!(
                "rank {} is not a rank of {} nodes (0..{})",
                hello.rank,
                own.nodes,
                own.nodes - 1
            ))
        } else if joined.iter().any(|(h, _)| h.rank == hello.rank) {
            Some(format!(
                "rank {} joined twice (two processes with one --node-rank?)",
                hello.rank
            ))
        } else {
            hello.differences(&own)
        };
        if let Some(why) = refusal {
            // Every rank that joined stops with the same reason.
            let answer = serde_json::to_string(&Answer::Refused(why.clone())).expect("serializes");
            for (_, other) in joined.iter_mut().chain([(hello, reader)].iter_mut()) {
                let _ = writeln!(other.get_mut(), "{answer}");
            }
            return Err(TrainError::Settings(why));
        }
        joined.push((hello, reader));
    }
    let files = checkpoint_files(checkpoint)?;
    let listing: Vec<(String, u64)> = files
        .iter()
        .map(|(name, _, len)| (name.clone(), *len))
        .collect();
    joined
        .into_iter()
        .map(|(hello, reader)| {
            let mut stream = reader.into_inner();
            let what = format!("sending rank {} the checkpoint", hello.rank);
            let answer = serde_json::to_string(&Answer::Welcome {
                files: listing.clone(),
            })
            .expect("serializes");
            writeln!(stream, "{answer}").map_err(net_err(what.clone()))?;
            for (_, path, _) in &files {
                let mut file = std::fs::File::open(path).map_err(io_err(path))?;
                std::io::copy(&mut file, &mut stream).map_err(net_err(what.clone()))?;
            }
            Ok(Link::new(hello.rank, stream))
        })
        .collect()
}

/// The files of the checkpoint directory `dir` (name, path, bytes), sorted by name.
fn checkpoint_files(dir: Option<&Path>) -> Result<Vec<(String, PathBuf, u64)>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_file() {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            files.push((name, path, meta.len()));
        }
    }
    files.sort();
    Ok(files)
}

/// Any other rank's side: connects to rank 0 (retrying until the rendezvous
/// timeout), says hello, and keeps the checkpoint it is sent in `received/checkpoints/latest`
/// (none: no checkpoint there).
fn join(
    cluster: &Cluster,
    host: &str,
    port: u16,
    own: Hello,
    received: &Path,
) -> Result<Arc<Link>> {
    let target = format!("{host}:{port}");
    let deadline = Instant::now() + cluster.rendezvous;
    let stream = loop {
        let attempt = target
            .to_socket_addrs()
            .and_then(|mut addrs| {
                addrs
                    .next()
                    .ok_or_else(|| std::io::Error::other("no address"))
            })
            .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(5)));
        match attempt {
            Ok(stream) => break stream,
            Err(e) if Instant::now() > deadline => {
                return Err(TrainError::PeerLost(format!(
                    "rank 0 at {target} did not answer within {} s ({e})",
                    cluster.rendezvous.as_secs()
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let what = format!("rank 0 at {target}");
    let mut writer = stream.try_clone().map_err(net_err(what.clone()))?;
    writeln!(
        writer,
        "{}",
        serde_json::to_string(&own).expect("serializes")
    )
    .map_err(net_err(what.clone()))?;
    stream
        .set_read_timeout(Some(cluster.rendezvous))
        .map_err(net_err(what.clone()))?;
    let mut reader = BufReader::new(stream);
    let files = match read_json::<Answer>(&mut reader, &what)? {
        Answer::Refused(why) => return Err(TrainError::Settings(why)),
        Answer::Welcome { files } => files,
    };
    std::fs::create_dir_all(received).map_err(io_err(received))?;
    let checkpoints = received.join("checkpoints");
    if files.is_empty() {
        if checkpoints.exists() {
            std::fs::remove_dir_all(&checkpoints).map_err(io_err(&checkpoints))?;
        }
    } else {
        let dir = attn_atomic::Dir::new(&checkpoints.join("latest"))?;
        for (name, len) in files {
            let path = dir.path().join(&name);
            let mut file = std::fs::File::create(&path).map_err(io_err(&path))?;
            let copied = std::io::copy(&mut (&mut reader).take(len), &mut file)
                .map_err(net_err(what.clone()))?;
            if copied != len {
                return Err(TrainError::PeerLost(format!(
                    "{what} stopped sending {name} after {copied} of {len} bytes"
                )));
            }
        }
        dir.commit()?;
    }
    Ok(Link::new(0, writer))
}
