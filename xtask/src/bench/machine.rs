//! The machine a run measured: what the report says the numbers are of.

use anyhow::Result;
use xshell::{Shell, cmd};

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub flags: Vec<String>,
    pub clocksource: String,
    pub kernel: String,
    pub hypervisor: bool,
    pub rustc: String,
}

impl Machine {
    pub(super) fn read(sh: &Shell) -> Result<Machine> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo")?;
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let all_flags = field("flags");
        let wanted = [
            "constant_tsc",
            "nonstop_tsc",
            "rdtscp",
            "rdpid",
            "hypervisor",
        ];
        let flags = all_flags
            .split_whitespace()
            .filter(|f| wanted.contains(f))
            .map(String::from)
            .collect::<Vec<_>>();
        Ok(Machine {
            cpu: field("model name"),
            cores: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count(),
            hypervisor: flags.iter().any(|f| f == "hypervisor"),
            flags,
            clocksource: std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .unwrap_or_default()
            .trim()
            .to_string(),
            kernel: cmd!(sh, "uname -r").read()?.trim().to_string(),
            rustc: cmd!(sh, "rustc --version").read()?.trim().to_string(),
        })
    }
}
