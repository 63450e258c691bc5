//! What the bench reads from `/proc` (through `procfs`): a process's CPU
//! time and memory, the whole machine's busy time, its load, CPU model,
//! memory, kernel release and whether it is a virtual machine.
//! Every read is best-effort: `None` (or an empty string) when the process
//! is gone or the file cannot be read, so a report never fails on it.

use procfs::process::Process;
use procfs::{Current, CurrentSI};

/// CPU seconds (user + system, all threads) of a process.
pub(crate) fn cpu_s(pid: u32) -> Option<f64> {
    let stat = Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// (VmRSS, VmHWM) in MiB.
pub(crate) fn mem_mb(pid: u32) -> Option<(f64, f64)> {
    let status = Process::new(i32::try_from(pid).ok()?).ok()?.status().ok()?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    Some((mb(status.vmrss?), mb(status.vmhwm?)))
}

/// (busy, total) jiffies of the whole machine; iowait counts as idle.
pub(crate) fn machine_jiffies() -> Option<(u64, u64)> {
    let t = procfs::KernelStats::current().ok()?.total;
    let (iowait, irq, softirq, steal) = (
        t.iowait.unwrap_or(0),
        t.irq.unwrap_or(0),
        t.softirq.unwrap_or(0),
        t.steal.unwrap_or(0),
    );
    let total = t.user + t.nice + t.system + t.idle + iowait + irq + softirq + steal;
    Some((total - t.idle - iowait, total))
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` shows them.
pub(crate) fn loadavg() -> String {
    procfs::LoadAverage::current()
        .map(|l| format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen))
        .unwrap_or_default()
}

pub(crate) fn cpu_model() -> String {
    procfs::CpuInfo::current()
        .ok()
        .and_then(|c| c.model_name(0).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// A `hypervisor` flag on the first CPU.
pub(crate) fn virtual_machine() -> bool {
    procfs::CpuInfo::current()
        .ok()
        .and_then(|c| c.flags(0).map(|f| f.contains(&"hypervisor")))
        .unwrap_or(false)
}

/// MemTotal in GiB (0 if unreadable).
pub(crate) fn memory_gib() -> f64 {
    procfs::Meminfo::current()
        .map(|m| m.mem_total as f64 / (1u64 << 30) as f64)
        .unwrap_or(0.0)
}

/// The kernel release, e.g. `6.1.0-28-cloud-amd64`.
pub(crate) fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_the_machine() {
        let me = std::process::id();
        assert!(cpu_s(me).is_some_and(|s| s >= 0.0));
        assert!(mem_mb(me).is_some_and(|(rss, peak)| rss > 0.0 && peak >= rss));
        assert!(machine_jiffies().is_some_and(|(busy, total)| busy <= total && total > 0));
        assert_eq!(loadavg().split(' ').count(), 3);
        assert!(memory_gib() > 0.0);
        assert!(kernel().chars().next().is_some_and(|c| c.is_ascii_digit()));
        assert_eq!(cpu_s(u32::MAX), None);
    }
}
