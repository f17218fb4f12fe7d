//! What the kernel says a process used: CPU time from `/proc/<pid>/stat`, peak RSS from
//! `/proc/self/status`, and the statistics helpers the parts share.

use std::time::Duration;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second for
/// user space whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of a process (`None`: this one), all threads included.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse_stat_cpu(&text).map(|(user, system)| user + system)
}

/// `(utime, stime)` in seconds from the text of `/proc/<pid>/stat`. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<(f64, f64)> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    // After the name: state (field 3) … cmajflt (12), utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime as f64 / USER_HZ, stime as f64 / USER_HZ))
}

/// Peak resident set size of this process in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&text, "VmHWM").map(|k| k * 1024)
}

/// Current resident set size of this process in bytes (`VmRSS`).
/// Sockets this process holds open (its pooled vendor connections among them).
pub fn open_sockets() -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count() as u64,
    )
}

pub fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&text, "VmRSS").map(|k| k * 1024)
}

/// A `Key:   1234 kB` line of `/proc/<pid>/status`, in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Starts a new peak: writing 5 to `clear_refs` resets `VmHWM` to the current RSS (Linux ≥ 4.0),
/// so each part reports its own peak. Returns false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The median (mean of the middle two for an even count); `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

pub fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// Rounds to `digits` decimals for readable JSON.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces_and_parens() {
        let stat = "4242 (seliq (bench) x) R 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat_cpu(stat), Some((2.5, 0.75)));
        assert_eq!(parse_stat_cpu("no parens here"), None);
        assert_eq!(parse_stat_cpu("1 (x) R 1 2"), None);
    }

    #[test]
    fn reads_this_process_from_proc() {
        assert!(cpu_seconds(None).is_some());
        assert!(cpu_seconds(Some(std::process::id())).is_some());
        let peak = peak_rss_bytes().unwrap();
        assert!(peak >= rss_bytes().unwrap() / 2 && peak > 0);
    }

    #[test]
    fn reads_kib_values_from_status_lines() {
        let status =
            "Name:\tseliq\nVmPeak:\t  99999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_kib(status, "VmRSS"), Some(10240));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(mib(20480 * 1024), 20.0);
    }

    #[test]
    fn median_of_odd_even_and_empty_sets() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn rounds_for_display() {
        assert_eq!(round(1.23456, 2), 1.23);
        assert_eq!(nanos(Duration::from_micros(2)), 2000.0);
    }
}
