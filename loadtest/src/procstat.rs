//! The relay's CPU time and resident memory, read from `/proc/<pid>` (Linux).

use std::time::Instant;

/// CPU time (user + system) and RSS of a process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    pub at: Instant,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// Clock ticks per second for `/proc/<pid>/stat` (USER_HZ).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// Reads a sample of process `pid`; `None` if it is gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let cpu_ticks = parse_stat_cpu(&stat)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_bytes = parse_status_rss(&status)?;
    Some(ProcSample {
        at,
        cpu_ticks,
        rss_bytes,
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may contain spaces, so fields are counted after the last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: field 3 (state) is the first; utime is field 14, the 12th after it.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of a `/proc/<pid>/status` text, in bytes.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Cores busy between two samples (1.0 = one core fully used).
pub fn cpu_between(a: &ProcSample, b: &ProcSample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / ticks_per_second() / wall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "4242 (conclave relay) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    1234 567 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(1234 + 567));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tconclave-relay\nVmPeak:\t  9000 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(parse_status_rss(status), Some(2048 * 1024));
        assert_eq!(parse_status_rss("Name: x\n"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("/proc/self is readable");
        assert!(s.rss_bytes > 0);
    }
}
