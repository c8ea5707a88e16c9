//! What /metrics says besides the request counts: a `# HELP` line for every metric, the
//! process's own figures in the names Prometheus's client libraries use (`process_*`, read
//! from /proc at each scrape), and `linli_build_info` naming the version and commit running.
//!
//! The `metrics-process` crate does the same reading but brings procfs and its own dependency
//! tree for six numbers that /proc gives in two small files.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram, gauge};

/// The commit the binary was built from (`build.rs`), or `unknown`.
pub const GIT_SHA: &str = env!("LINLI_GIT_SHA");

/// Describes every metric Linli records; once, when the recorder is installed.
pub fn describe() {
    describe_counter!("linli_http_requests_total", "HTTP requests answered, by method, route template and status.");
    describe_histogram!(
        "linli_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route template."
    );
    describe_counter!("linli_http_shed_total", "Requests turned away with 503 because the queue was full or too slow.");
    describe_counter!("linli_http_queue_timeout_total", "Requests that waited max_queue_wait for a slot and got 503.");
    describe_counter!("linli_http_body_timeout_total", "Requests whose body did not arrive within body_timeout (408).");
    describe_counter!(
        "linli_http_body_budget_refused_total",
        "Request bodies refused with 503 because upload_budget_mb was in use."
    );
    describe_counter!(
        "linli_group_commits_total",
        "SQLite writer transactions committed (each may hold several writes)."
    );
    describe_counter!("linli_group_commit_writes_total", "Writes committed by the SQLite writer's group commits.");
    describe_counter!(
        "linli_sqlite_writer_healed_total",
        "Times the SQLite writer connection was replaced after an error."
    );
    describe_gauge!("linli_sqlite_wal_pages", "Pages in the SQLite write-ahead log at its last checkpoint.");
    describe_gauge!("linli_sqlite_wal_pages_copied", "WAL pages copied into the database at its last checkpoint.");
    describe_gauge!("linli_build_info", "Always 1; its labels name the version and the commit running.");
    describe_gauge!("process_cpu_seconds_total", Unit::Seconds, "User and system CPU time spent, in seconds.");
    describe_gauge!("process_resident_memory_bytes", Unit::Bytes, "Resident memory size in bytes.");
    describe_gauge!("process_virtual_memory_bytes", Unit::Bytes, "Virtual memory size in bytes.");
    describe_gauge!("process_open_fds", "Open file descriptors.");
    describe_gauge!("process_max_fds", "Most file descriptors the process may open.");
    describe_gauge!("process_threads", "Operating-system threads in the process.");
    describe_gauge!(
        "process_start_time_seconds",
        Unit::Seconds,
        "Start time of the process since the Unix epoch, in seconds."
    );
    gauge!("linli_build_info", "version" => env!("CARGO_PKG_VERSION"), "git_sha" => GIT_SHA).set(1.0);
}

/// The process's figures now, as gauges (called before each render of /metrics).
pub fn sample() {
    let Some(p) = read() else { return };
    gauge!("process_cpu_seconds_total").set(p.cpu_seconds);
    gauge!("process_resident_memory_bytes").set(p.resident_bytes as f64);
    gauge!("process_virtual_memory_bytes").set(p.virtual_bytes as f64);
    gauge!("process_threads").set(p.threads as f64);
    gauge!("process_start_time_seconds").set(p.start_time_seconds);
    if let Some(n) = p.open_fds {
        gauge!("process_open_fds").set(n as f64);
    }
    if let Some(n) = p.max_fds {
        gauge!("process_max_fds").set(n as f64);
    }
}

#[derive(Debug)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
    pub start_time_seconds: f64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

/// Reads this process's figures from /proc; None where there is no /proc.
#[cfg(target_os = "linux")]
pub fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    // SAFETY: sysconf only reads a system constant.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    let mut p = parse_stat(&stat, &boot, ticks.max(1) as f64, page.max(1) as u64)?;
    p.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct passed to it.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        p.max_fds = Some(lim.rlim_cur);
    }
    Some(p)
}

#[cfg(not(target_os = "linux"))]
pub fn read() -> Option<Process> {
    None
}

/// `/proc/self/stat` (fields after the command name, which may hold spaces and parentheses)
/// and `btime` of `/proc/stat`.
pub fn parse_stat(stat: &str, proc_stat: &str, ticks_per_second: f64, page_size: u64) -> Option<Process> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; `proc(5)` numbers from 1.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let btime = proc_stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<u64>().ok())?;
    Some(Process {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_second,
        threads: field(20)?,
        start_time_seconds: btime as f64 + field(22)? as f64 / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
        open_fds: None,
        max_fds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn proc_stat_is_read_past_a_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss …
        let stat = "4242 (linli (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 7 0 12000 104857600 2560 18446744073709551615";
        let p = parse_stat(stat, "cpu  1 2 3\nbtime 1765000000\nprocesses 9\n", 100.0, 4096).unwrap();
        assert_eq!(p.cpu_seconds, 4.0);
        assert_eq!(p.threads, 7);
        assert_eq!(p.start_time_seconds, 1_765_000_120.0);
        assert_eq!(p.virtual_bytes, 104_857_600);
        assert_eq!(p.resident_bytes, 2560 * 4096);
        assert!(parse_stat("garbage", "btime 1", 100.0, 4096).is_none());
    }
}
