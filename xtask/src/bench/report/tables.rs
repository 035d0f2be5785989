//! The report's tables of medians and counts. Each table's header is built
//! with its rows, so their columns cannot disagree; the prose around them
//! is in the templates.

use std::fmt::Write as _;

use common::abi::Arch;
use common::entries::ENTRIES;
use common::note::Variant;
use kernel_side::targets::{HOST, Target};
use vdso_benches::calls::Call;
use vdso_benches::lab;

use super::template::{self, fill};
use super::{MONOTONIC, Report, design_rows, ns, ratio, rdpid_rows, shipped_names, x};
use crate::bench::Live;
use crate::bench::executed;

impl Report {
    pub(super) fn live_table(&self) -> String {
        let body = match &self.live {
            Live::Unserved(kernels) => format!(
                "The running kernel uses the data layout of Linux {kernels}, which no pair serves: there is nothing to put in place of its vDSO."
            ),
            Live::Measured {
                layout,
                clock_mode,
                clocksource,
                rdpid,
                ..
            } => {
                let mode = match *clock_mode {
                    1 => "the TSC (clock mode 1): what was measured is the counter path",
                    2 => {
                        "kvm-clock (clock mode 2): the counter clocks went to the kernel on both sides"
                    }
                    _ => "not the TSC: the counter clocks went to the kernel on both sides",
                };
                let alternative = if *rdpid {
                    "with its RDPID alternative applied, as the kernel applied its own"
                } else {
                    "as built: it carries no CPU-feature alternatives yet, so its `getcpu` reads TSC_AUX with `rdtscp` where the kernel's may use `rdpid`"
                };
                let mut t = String::new();
                let _ = writeln!(
                    t,
                    "| call | kernel vDSO | host image | image/kernel (interleaved) | instructions kernel | instructions image |"
                );
                let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|");
                for call in Call::ALL {
                    let row = self.live.row(call);
                    let ratio = row.map_or("n/a".into(), |r| {
                        format!("{:.3}x ({:.3}–{:.3})", r.ratio, r.q1, r.q3)
                    });
                    let _ = writeln!(
                        t,
                        "| {} | {} | {} | {ratio} | {} | {} |",
                        call.label(),
                        ns(row.map(|r| r.kernel_ns)),
                        ns(row.map(|r| r.image_ns)),
                        self.instr("kernel", call),
                        self.instr("live-host", call),
                    );
                }
                let summary = format!(
                    "The `{layout}` host image ({alternative}) against the running kernel's vDSO, over the kernel's live pages; the kernel's clocksource is `{clocksource}`, so its pages say {mode}."
                );
                fill(
                    template::LIVE_MEASURED,
                    &[("summary", &summary), ("table", &t.trim_end())],
                )
            }
        };
        fill(template::LIVE, &[("body", &body.trim_end())])
    }

    pub(super) fn kernel_table(&self) -> String {
        let m = &self.medians;
        let floor = m.floor("lfence-rdtsc");
        let (host, timens) = shipped_names();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| call | kernel vDSO | system call | host image | timens image | host/kernel | timens/host | host − floor | kernel − floor |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for call in Call::ALL {
            let (k, h, t) = (
                m.hot(call, "kernel"),
                m.hot(call, &host),
                m.hot(call, &timens),
            );
            let minus = |a: Option<f64>| ns(a.zip(floor).map(|(a, f)| a - f));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                call.label(),
                ns(k),
                ns(m.hot(call, "syscall")),
                ns(h),
                ns(t),
                x(ratio(h, k)),
                x(ratio(t, h)),
                minus(h),
                minus(k)
            );
        }
        fill(template::KERNEL, &[("table", &s.trim_end())])
    }

    pub(super) fn designs_table(&self) -> String {
        let m = &self.medians;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| design | host process | namespaced | namespaced/host (interleaved) | host/(a) host (interleaved) | cold host | cold namespaced | instructions host / namespaced | `.text` bytes | `clock_gettime` bytes (pushes) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in design_rows() {
            let (host, namespaced) = (row.host.name(), row.namespaced.name());
            let (h, n) = (m.hot(MONOTONIC, &host), m.hot(MONOTONIC, &namespaced));
            let size = |t: Target| self.images.by_variant.get(t.variant.name()).copied();
            let (hs, nss) = (size(row.host), size(row.namespaced));
            let sizes = match (hs, nss) {
                (Some(a), Some(b)) if a.1 != b.1 || a.2 != b.2 => {
                    format!("{} ({}) / {} ({})", a.1, a.2, b.1, b.2)
                }
                (Some(a), _) => format!("{} ({})", a.1, a.2),
                _ => "n/a".into(),
            };
            let text = match (hs, nss) {
                (Some(a), Some(b)) if a.0 != b.0 => format!("{} / {}", a.0, b.0),
                (Some(a), _) => a.0.to_string(),
                _ => "n/a".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {text} | {sizes} |",
                row.label(),
                ns(h),
                ns(n),
                self.interleaved_ratio(&host, &namespaced, MONOTONIC),
                if row.host == HOST {
                    "1 (itself)".to_string()
                } else {
                    self.interleaved_ratio(&HOST.name(), &host, MONOTONIC)
                },
                ns(m.cold(MONOTONIC, &host)),
                ns(m.cold(MONOTONIC, &namespaced)),
                self.instr(&host, MONOTONIC),
                self.instr(&namespaced, MONOTONIC),
            );
        }

        let calls = [
            Call::ClockGettime(common::clock::CLOCK_REALTIME),
            Call::ClockGettime(common::clock::CLOCK_MONOTONIC_COARSE),
            Call::Time,
            Call::Getcpu,
        ];
        let mut o = String::new();
        let _ = write!(o, "| design |");
        for c in calls {
            let _ = write!(o, " {} |", c.label());
        }
        let _ = writeln!(o, "\n|---|{}", "---:|".repeat(calls.len()));
        // (label, host process, namespaced process): the kernel's vDSO,
        // then each design, then those with the RDPID alternative.
        let rows = [(
            "kernel vDSO".to_string(),
            "kernel".to_string(),
            "kernel".to_string(),
        )]
        .into_iter()
        .chain(
            design_rows()
                .into_iter()
                .chain(rdpid_rows())
                .map(|r| (r.label(), r.host.name(), r.namespaced.name())),
        );
        for (label, host, namespaced) in rows {
            let _ = write!(o, "| {label} |");
            for c in calls {
                let (h, n) = (m.hot(c, &host), m.hot(c, &namespaced));
                if host == namespaced {
                    let _ = write!(o, " {} |", ns(h));
                } else {
                    let _ = write!(o, " {} / {} |", ns(h), ns(n));
                }
            }
            let _ = writeln!(o);
        }
        fill(
            template::DESIGNS,
            &[("table", &s.trim_end()), ("other_calls", &o.trim_end())],
        )
    }

    pub(super) fn cold_table(&self) -> String {
        let m = &self.medians;
        let (host, timens) = shipped_names();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| call | kernel vDSO | host image | timens image | host/kernel | timens/host |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for call in Call::ALL {
            let (k, h, t) = (
                m.cold(call, "kernel"),
                m.cold(call, &host),
                m.cold(call, &timens),
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                call.label(),
                ns(k),
                ns(h),
                ns(t),
                x(ratio(h, k)),
                x(ratio(t, h))
            );
        }
        fill(
            template::COLD,
            &[
                ("kernel_noop", &ns(m.get("cold-noop", "kernel"))),
                ("image_noop", &ns(m.get("cold-noop", "image"))),
                ("table", &s.trim_end()),
            ],
        )
    }

    pub(super) fn count_table(&self) -> String {
        // Valgrind cannot run RDPID: those targets are not counted; nor
        // are another architecture's (their own table, from disassembly).
        let targets: Vec<String> = ["kernel".to_string()]
            .into_iter()
            .chain(lab::measured().filter(|t| !t.rdpid).map(Target::name))
            .collect();
        let mut s = String::new();
        let _ = write!(s, "| call |");
        for t in &targets {
            let _ = write!(s, " {t} |");
        }
        let _ = writeln!(s, "\n|---|{}", "---:|".repeat(targets.len()));
        for call in Call::ALL {
            let _ = write!(s, "| {} |", call.label());
            for t in &targets {
                let _ = write!(s, " {} |", self.instr(t, call));
            }
            let _ = writeln!(s);
        }
        let rdpid = if self.kernel_rdpid {
            format!(" {}", template::COUNT_KERNEL_RDPID.trim_end())
        } else {
            String::new()
        };
        fill(
            template::COUNT,
            &[("table", &s.trim_end()), ("kernel_getcpu_rdpid", &rdpid)],
        )
    }

    /// Each architecture's pair: file and `.text` sizes, then the
    /// instructions each call executes, counted under qemu-user.
    pub(super) fn arch_table(&self) -> String {
        let a = &self.arch_images;
        let columns: Vec<(Arch, Variant)> = Arch::ALL
            .into_iter()
            .flat_map(|arch| Variant::ALL.map(|v| (arch, v)))
            .collect();
        let mut s = String::new();
        let _ = write!(s, "|  |");
        for (arch, v) in &columns {
            let _ = write!(s, " {arch} {} |", v.name());
        }
        let _ = writeln!(s, "\n|---|{}", "---:|".repeat(columns.len()));
        let size = |arch: Arch, v: Variant| a.sizes.get(&(arch, v.name().to_string())).copied();
        for (label, pick) in [
            ("file bytes", (|s: (u64, u64)| s.0) as fn((u64, u64)) -> u64),
            ("`.text` bytes", |s| s.1),
        ] {
            let _ = write!(s, "| {label} |");
            for &(arch, v) in &columns {
                let cell = size(arch, v).map_or("n/a".into(), |s| pick(s).to_string());
                let _ = write!(s, " {cell} |");
            }
            let _ = writeln!(s);
        }
        for call in Call::ALL {
            let _ = write!(s, "| {} |", call.label());
            for &(arch, v) in &columns {
                let exists = ENTRIES
                    .iter()
                    .any(|e| e.name == call.entry() && e.exists_in(arch, executed::ABI));
                let n = a
                    .executed
                    .get(&(arch, v.name().to_string(), call.name().to_string()));
                let cell = match (exists, n) {
                    (false, _) => "—".to_string(),
                    (true, Some(n)) => n.to_string(),
                    (true, None) => "n/a".to_string(),
                };
                let _ = write!(s, " {cell} |");
            }
            let _ = writeln!(s);
        }
        let missing: Vec<String> = Arch::ALL
            .into_iter()
            .filter(|&arch| !a.sizes.keys().any(|(x, _)| *x == arch))
            .map(|arch| arch.to_string())
            .collect();
        let missing = if missing.is_empty() {
            String::new()
        } else {
            format!(
                " Not built on this machine, so n/a: {} (`cargo xtask build-vdso` says which packages it lacks).",
                missing.join(", ")
            )
        };
        fill(
            template::ARCHES,
            &[("table", &s.trim_end()), ("missing", &missing)],
        )
    }
}
