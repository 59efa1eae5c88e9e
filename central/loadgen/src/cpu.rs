//! CPU time, so a run can say how much of the machine the generator itself took: the
//! process's own (user + system, every thread) and the whole machine's busy time, from
//! `/proc` (Linux).

use std::time::Duration;

/// The kernel's clock ticks per second for `/proc` times (`USER_HZ`: 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// CPU times at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// This process's CPU time.
    pub own: Duration,
    /// The machine's busy time, every core together.
    pub busy: Duration,
    /// The machine's busy and idle time, every core together.
    pub total: Duration,
}

impl Sample {
    /// The times now (zeros where `/proc` cannot be read).
    pub fn now() -> Sample {
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| own_ticks(&s))
            .unwrap_or(0);
        let (busy, total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| machine_ticks(&s))
            .unwrap_or((0, 0));
        Sample {
            own: ticks(own),
            busy: ticks(busy),
            total: ticks(total),
        }
    }
}

/// What happened between two samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Usage {
    /// The generator's CPU time over the machine's capacity (every core), 0 to 1.
    pub generator_share: f64,
    /// The machine's busy time over its capacity, 0 to 1 (the generator included).
    pub machine_busy_share: f64,
}

impl Usage {
    /// The usage between `before` and `after`.
    pub fn between(before: Sample, after: Sample) -> Usage {
        let total = after.total.saturating_sub(before.total).as_secs_f64();
        let share = |d: Duration| {
            if total > 0.0 {
                d.as_secs_f64() / total
            } else {
                0.0
            }
        };
        Usage {
            generator_share: share(after.own.saturating_sub(before.own)),
            machine_busy_share: share(after.busy.saturating_sub(before.busy)),
        }
    }
}

fn ticks(n: u64) -> Duration {
    Duration::from_millis(n.saturating_mul(1000 / TICKS_PER_SEC))
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15; the command name, field 2, may
/// hold spaces, so fields are counted after its closing parenthesis).
fn own_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// (busy, total) ticks of the `cpu` line of `/proc/stat`; idle and iowait are not busy.
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_are_read() {
        let stat = "4242 (tillpass loadgen) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9";
        assert_eq!(own_ticks(stat), Some(300));
        let machine = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n";
        assert_eq!(machine_ticks(machine), Some((200, 1000)));
        let usage = Usage::between(
            Sample::default(),
            Sample {
                own: Duration::from_secs(1),
                busy: Duration::from_secs(3),
                total: Duration::from_secs(10),
            },
        );
        assert!((usage.generator_share - 0.1).abs() < 1e-9);
        assert!((usage.machine_busy_share - 0.3).abs() < 1e-9);
    }

    #[test]
    fn this_process_uses_some_cpu() {
        let before = Sample::now();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        let after = Sample::now();
        assert!(after.total > before.total);
    }
}
