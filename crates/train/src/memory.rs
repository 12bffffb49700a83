//! The process's memory, as Linux reports it (`/proc/self/status`).

/// A `/proc/self/status` memory line (Linux), in bytes.
fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process's peak resident memory (Linux `VmHWM`), when known.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// The process's resident memory now (Linux `VmRSS`), when known.
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}
