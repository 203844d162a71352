//! What the figures were measured on: cores, CPU, memory, OS, the media
//! stack's versions, and the date.

use std::process::Command;

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once([':', '='])?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// `(name, value)` lines describing this machine now.
pub fn describe() -> Vec<(String, String)> {
    let mem_gib = field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    vec![
        (
            "date (UTC)".into(),
            first_line("date", &["-u", "+%Y-%m-%d %H:%M"]),
        ),
        (
            "cores".into(),
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "unknown".into()),
        ),
        (
            "CPU".into(),
            field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        ),
        ("memory".into(), mem_gib),
        (
            "OS".into(),
            field("/etc/os-release", "PRETTY_NAME").unwrap_or_else(|| "unknown".into()),
        ),
        ("kernel".into(), first_line("uname", &["-r"])),
        ("GStreamer".into(), gstreamer_version()),
        ("ffmpeg".into(), first_line("ffmpeg", &["-version"])),
    ]
}

fn gstreamer_version() -> String {
    if media::init().is_err() {
        return "unavailable".into();
    }
    let (major, minor, micro, _) = media::gstreamer_version();
    format!("{major}.{minor}.{micro}")
}

/// The whole machine's CPU time from `/proc/stat`, to tell how much of a
/// measurement's time the hypervisor gave to someone else ("steal"): on a
/// shared virtual machine that varies from run to run and moves every figure.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    steal: u64,
    total: u64,
    /// All but idle and iowait.
    busy: u64,
}

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let line = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_default();
        // cpu user nice system idle iowait irq softirq steal guest guest_nice
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|n| n.parse().ok())
            .collect();
        let total: u64 = ticks.iter().sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        CpuTimes {
            steal: ticks.get(7).copied().unwrap_or(0),
            total,
            busy: total.saturating_sub(idle),
        }
    }

    /// CPU seconds the whole machine (every core) was busy since `self`.
    pub fn busy_s_since(&self) -> f64 {
        CpuTimes::now().busy.saturating_sub(self.busy) as f64 / clock_ticks_per_s()
    }

    /// Percent of all CPU time since `self` that was stolen.
    pub fn steal_pct_since(&self) -> f64 {
        let now = CpuTimes::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        now.steal.saturating_sub(self.steal) as f64 * 100.0 / total as f64
    }
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The unit of /proc's CPU times.
pub fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) process `pid` has used so far; 0 once it is gone.
pub fn process_cpu_s(pid: u32) -> f64 {
    cpu_ticks(pid).unwrap_or(0) as f64 / clock_ticks_per_s()
}
