//! The generated section of BENCHMARKS.md: one run's results as tables,
//! the targets met or missed, and the verdict on the designs.

use std::fmt::Write as _;

use common::note::Variant;
use vdso_benches::calls::Call;
use vdso_benches::lab::{DESIGNS, SHIPPED, Setup};

use super::{Counts, Disassembly, FULL, ImageFacts, Interleaved, Machine, Medians, Settings};

#[cfg(test)]
mod tests;

pub struct Report {
    pub settings: Settings,
    pub machine: Machine,
    pub medians: Medians,
    pub interleaved: Interleaved,
    pub counts: Counts,
    pub images: ImageFacts,
    pub kernel_rdpid: bool,
    pub disassembly: Disassembly,
    pub minutes: f64,
}

fn ns(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn x(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.3}x"))
}

/// "met" if `r` rounded to two decimals is at most `limit`.
fn verdict(r: Option<f64>, limit: f64) -> &'static str {
    match r {
        Some(r) if (r * 100.0).round() / 100.0 <= limit => "met",
        Some(_) => "**missed**",
        None => "n/a",
    }
}

const MONOTONIC: Call = Call::ClockGettime(common::clock::CLOCK_MONOTONIC);

impl Report {
    fn count(&self, target: &str, call: Call) -> Option<f64> {
        self.counts
            .get(&(target.to_string(), call.name().to_string()))
            .copied()
    }

    fn instr(&self, target: &str, call: Call) -> String {
        self.count(target, call)
            .map_or("n/a".into(), |c| format!("{c:.0}"))
    }

    /// `vdso-ab`'s ratio of `b` to `a` and its quartiles.
    fn interleaved_ratio(&self, a: &str, b: &str, call: Call) -> String {
        self.interleaved
            .get(a, b, call)
            .map_or("n/a".into(), |(m, q1, q3)| {
                format!("{m:.3}x ({q1:.3}–{q3:.3})")
            })
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        self.machine_section(&mut s);
        self.kernel_table(&mut s);
        self.designs_table(&mut s);
        self.cold_table(&mut s);
        self.count_table(&mut s);
        self.targets(&mut s);
        self.verdict(&mut s);
        self.listings(&mut s);
        s
    }

    fn machine_section(&self, s: &mut String) {
        let m = &self.machine;
        let _ = writeln!(s, "## Results of one run\n");
        let _ = writeln!(
            s,
            "- Machine: {} ({} cores{}), CPU flags {}; Linux {}, clocksource `{}`.",
            m.cpu,
            m.cores,
            if m.hypervisor {
                ", a virtual machine"
            } else {
                ""
            },
            m.flags
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(" "),
            m.kernel,
            m.clocksource
        );
        let _ = writeln!(
            s,
            "- {}; criterion {} s warm-up and {} s measurement per bench; the whole `cargo xtask bench{}` took {:.1} minutes.",
            m.rustc,
            self.settings.warm_up,
            self.settings.measurement,
            if self.settings.measurement < FULL.measurement {
                " --quick"
            } else {
                ""
            },
            self.minutes
        );
        let _ = writeln!(
            s,
            "- Medians in ns. Ratios are of medians from this run; absolute times are context only. \
             The harness's timekeeper ticks every 4 ms, as a kernel at HZ=250 does.\n"
        );
        let f = |w| ns(self.medians.floor(w));
        let _ = writeln!(
            s,
            "Hardware floor: `lfence; rdtsc` {} ns, `rdtscp` {} ns, `rdpid` {} ns; an indirect call of a no-op {} ns.\n",
            f("lfence-rdtsc"),
            f("rdtscp"),
            f("rdpid"),
            f("call-noop")
        );
    }

    fn kernel_table(&self, s: &mut String) {
        let m = &self.medians;
        let floor = m.floor("lfence-rdtsc");
        let _ = writeln!(s, "### The images against the kernel's vDSO (hot)\n");
        let _ = writeln!(
            s,
            "| call | kernel vDSO | system call | host image | timens image | host/kernel | timens/host | host − floor | kernel − floor |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for call in Call::ALL {
            let (k, h, t) = (
                m.hot(call, "kernel"),
                m.hot(call, "host"),
                m.hot(call, "timens"),
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
        let _ = writeln!(
            s,
            "\nThe timens image runs in a namespace a day ahead on MONOTONIC and BOOTTIME; \
             \"floor\" is `lfence; rdtsc` alone (it means little for the calls that read no counter).\n"
        );
    }

    fn designs_table(&self, s: &mut String) {
        let m = &self.medians;
        let _ = writeln!(s, "### The designs: clock_gettime(MONOTONIC)\n");
        let _ = writeln!(
            s,
            "| design | host process | namespaced | namespaced/host (interleaved) | host/(a) host (interleaved) | cold host | cold namespaced | instructions host / namespaced | `.text` bytes | `clock_gettime` bytes (pushes) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (label, host, ns_setup) in DESIGN_ROWS {
            let (h, n) = (m.hot(MONOTONIC, host), m.hot(MONOTONIC, ns_setup));
            let size = |setup: &str| {
                let v = setup_variant(setup).name();
                self.images.by_variant.get(v).copied()
            };
            let (hs, nss) = (size(host), size(ns_setup));
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
                "| {label} | {} | {} | {} | {} | {} | {} | {} / {} | {text} | {sizes} |",
                ns(h),
                ns(n),
                self.interleaved_ratio(host, ns_setup, MONOTONIC),
                if host == "host" {
                    "1 (itself)".to_string()
                } else {
                    self.interleaved_ratio("host", host, MONOTONIC)
                },
                ns(m.cold(MONOTONIC, host)),
                ns(m.cold(MONOTONIC, ns_setup)),
                self.instr(host, MONOTONIC),
                self.instr(ns_setup, MONOTONIC),
            );
        }
        let _ = writeln!(
            s,
            "\nOther calls, hot medians (ns), host process / namespaced:\n"
        );
        let calls = [
            Call::ClockGettime(common::clock::CLOCK_REALTIME),
            Call::ClockGettime(common::clock::CLOCK_MONOTONIC_COARSE),
            Call::Time,
            Call::Getcpu,
        ];
        let _ = write!(s, "| design |");
        for c in calls {
            let _ = write!(s, " {} |", c.label());
        }
        let _ = writeln!(s, "\n|---|{}", "---:|".repeat(calls.len()));
        let mut rows: Vec<(&str, &str, &str)> = DESIGN_ROWS.to_vec();
        rows.push(("(d) with RDPID", "d-host-rdpid", "d-ns-rdpid"));
        rows.insert(0, ("kernel vDSO", "kernel", "kernel"));
        for (label, host, ns_setup) in rows {
            let _ = write!(s, "| {label} |");
            for c in calls {
                let (h, n) = (m.hot(c, host), m.hot(c, ns_setup));
                if host == ns_setup {
                    let _ = write!(s, " {} |", ns(h));
                } else {
                    let _ = write!(s, " {} / {} |", ns(h), ns(n));
                }
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
    }

    fn cold_table(&self, s: &mut String) {
        let m = &self.medians;
        let _ = writeln!(s, "### Cold cache\n");
        let _ = writeln!(
            s,
            "One call after `clflush` of every line of the target's code and of the data pages it reads, \
             less the method's own cost (the same loop around a hot no-op: {} ns for the kernel's flush set, \
             {} ns for an image's).\n",
            ns(m.get("cold-noop", "kernel")),
            ns(m.get("cold-noop", "image"))
        );
        let _ = writeln!(
            s,
            "| call | kernel vDSO | host image | timens image | host/kernel | timens/host |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for call in Call::ALL {
            let (k, h, t) = (
                m.cold(call, "kernel"),
                m.cold(call, "host"),
                m.cold(call, "timens"),
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
        let _ = writeln!(s);
    }

    fn count_table(&self, s: &mut String) {
        let _ = writeln!(s, "### Instructions per call (callgrind)\n");
        let targets: Vec<&str> = ["kernel"]
            .into_iter()
            .chain(
                SHIPPED
                    .iter()
                    .chain(DESIGNS.iter())
                    .filter(|s| !s.rdpid)
                    .map(|s| s.name),
            )
            .collect();
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
        let _ = writeln!(
            s,
            "\nThe instructions each entry executes, the indirect call and `ret` included, the caller's loop \
             excluded (a no-op called the same way is subtracted). Deterministic: the same build gives the same \
             counts.{}\n",
            if self.kernel_rdpid {
                " The kernel's getcpu executes RDPID, which valgrind 3.19 cannot run, so it has no count \
                 (its listing: RDPID, two stores, `ret`)."
            } else {
                ""
            }
        );
    }

    fn targets(&self, s: &mut String) {
        let m = &self.medians;
        let floor = m.floor("lfence-rdtsc");
        let (k, h, t) = (
            m.hot(MONOTONIC, "kernel"),
            m.hot(MONOTONIC, "host"),
            m.hot(MONOTONIC, "timens"),
        );
        let own = |v: Option<f64>| v.zip(floor).map(|(v, f)| v - f);
        let _ = writeln!(s, "### Targets\n");
        let _ = writeln!(
            s,
            "Met when the ratio of criterion's medians, rounded to two decimals, is within the target. \
             Criterion measures each target in a stretch of time of its own, and on this virtual machine a \
             median moves by a few percent between runs; the last column takes the two targets in turns \
             instead (`vdso-ab`: A B B A blocks of 2000 calls, 1001 rounds; the median ratio and its \
             quartiles), which a drift of the machine cannot bias.\n"
        );
        let _ = writeln!(s, "| target | criterion medians | | interleaved |");
        let _ = writeln!(s, "|---|---:|---|---:|");
        // The interleaved ratio, and its verdict against the same limit.
        let il = |a, b, c, limit| {
            let r = self.interleaved.get(a, b, c).map(|(m, _, _)| m);
            format!("{}, {}", self.interleaved_ratio(a, b, c), verdict(r, limit))
        };
        let _ = writeln!(
            s,
            "| host clock_gettime(MONOTONIC) ≤ 1.00x the kernel's vDSO | {} | {} | {} |",
            x(ratio(h, k)),
            verdict(ratio(h, k), 1.0),
            il("kernel", "host", MONOTONIC, 1.0)
        );
        let own_met = match (own(h), own(k)) {
            (Some(a), Some(b)) if a < b => "met",
            (Some(_), Some(_)) => "**missed**",
            _ => "n/a",
        };
        let _ = writeln!(
            s,
            "| its own work (minus `lfence; rdtsc`) below the kernel's | {} ns vs {} ns | {own_met} | |",
            ns(own(h)),
            ns(own(k))
        );
        let _ = writeln!(
            s,
            "| timens clock_gettime(MONOTONIC) ≤ 1.03x the host image | {} | {} | {} |",
            x(ratio(t, h)),
            verdict(ratio(t, h), 1.03),
            il("host", "timens", MONOTONIC, 1.03)
        );
        for call in [
            Call::ClockGettime(common::clock::CLOCK_MONOTONIC_COARSE),
            Call::ClockGettime(common::clock::CLOCK_REALTIME_COARSE),
            Call::Time,
        ] {
            let r = ratio(m.hot(call, "host"), m.hot(call, "kernel"));
            let _ = writeln!(
                s,
                "| host {} ≤ 1.00x the kernel's | {} | {} | {} |",
                call.label(),
                x(r),
                verdict(r, 1.0),
                il("kernel", "host", call, 1.0)
            );
        }
        let g = |t| ratio(m.hot(Call::Getcpu, t), m.hot(Call::Getcpu, "kernel"));
        let _ = writeln!(
            s,
            "| getcpu (RDTSCP) against the kernel's ({}) | {} | reported | |",
            if self.kernel_rdpid {
                "RDPID"
            } else {
                "its own"
            },
            x(g("host"))
        );
        let _ = writeln!(
            s,
            "| getcpu, design (d) with the RDPID alternative applied | {} | reported | |\n",
            x(g("d-host-rdpid"))
        );
    }

    fn verdict(&self, s: &mut String) {
        let m = &self.medians;
        // Hot costs from the interleaved ratios, which drift cannot bias.
        let pct = |a: &str, b: &str| {
            self.interleaved
                .get(a, b, MONOTONIC)
                .map_or("n/a".into(), |(r, _, _)| {
                    format!("{:+.1}%", (r - 1.0) * 100.0)
                })
        };
        let dins = |a: &str, b: &str| match (self.count(a, MONOTONIC), self.count(b, MONOTONIC)) {
            (Some(a), Some(b)) => format!("{:+.0}", a - b),
            _ => "n/a".into(),
        };
        let cold_d = |a: &str, b: &str| match (m.cold(MONOTONIC, a), m.cold(MONOTONIC, b)) {
            (Some(a), Some(b)) => format!("{:+.0} ns", a - b),
            _ => "n/a".into(),
        };
        let _ = writeln!(s, "### Verdict on the seed's question, from this run\n");
        let _ = writeln!(
            s,
            "Costs are clock_gettime(MONOTONIC) against the host image of (a) for a host process, and against the \
             same design's host path for a namespaced one: hot (interleaved ratio), instructions per call, cold \
             (difference of medians).\n"
        );
        let _ = writeln!(
            s,
            "- **(a) two images, pinned offsets** (this project): a host process pays nothing for namespaces \
             (no namespace code in its clock reads); against the kernel's vDSO it runs at {} ({} instructions to the \
             kernel's {}). A namespaced process pays {} hot, {} instructions, {} cold. Works always: the offsets \
             are pinned by the linker script and checked by the verifier, not hoped for.",
            self.interleaved_ratio("kernel", "host", MONOTONIC),
            self.instr("host", MONOTONIC),
            self.instr("kernel", MONOTONIC),
            pct("host", "timens"),
            dins("timens", "host"),
            cold_d("timens", "host"),
        );
        let _ = writeln!(
            s,
            "- **(b) a run-time branch**: every host process pays {} hot, {} instructions, {} cold (the flag's \
             page is one more cache line and TLB entry, and the offset code shares the function's registers). \
             Namespaced: {} against its host path.",
            pct("host", "b-host"),
            dins("b-host", "host"),
            cold_d("b-host", "host"),
            pct("b-host", "b-ns"),
        );
        let _ = writeln!(
            s,
            "- **(c) Linux's merged design**: a host process pays {} hot, {} instructions, {} cold; a namespaced one \
             takes the slow path on every call: {} against its host path, {} instructions.",
            pct("host", "c-host"),
            dins("c-host", "host"),
            cold_d("c-host", "host"),
            pct("c-host", "c-ns"),
            dins("c-ns", "c-host"),
        );
        let _ = writeln!(
            s,
            "- **(d) the static branch**: works always in Rust (a `label` operand is the compiler's own model of the \
             patched jump, and xtask checks the two images differ only at the recorded sites and notes), but the \
             host image is the namespace image with a NOP: {} hot, {} instructions, {} cold, because the offset \
             code, never run, still takes registers and stack in the one compiled function. Namespaced: {} against \
             its host path.",
            pct("host", "d-host"),
            dins("d-host", "host"),
            cold_d("d-host", "host"),
            pct("d-host", "d-ns"),
        );
        let _ = writeln!(
            s,
            "- **(e) three labels**: cannot be written soundly in Rust (see \"The three-label design\" above), so it has no numbers.\n"
        );
        // The ranking by instructions: exact, unlike the times.
        let rank = |pick: fn(&Row) -> &'static str| {
            let mut rows: Vec<(f64, &str)> = DESIGN_ROWS
                .iter()
                .filter_map(|r| Some((self.count(pick(r), MONOTONIC)?, r.0)))
                .collect();
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows.iter()
                .map(|(c, l)| format!("{l} {c:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "Instructions per clock_gettime(MONOTONIC), fewest first: for a host process {}; for a namespaced \
             one {}.\n",
            rank(|r| r.1),
            rank(|r| r.2)
        );
    }

    fn listings(&self, s: &mut String) {
        let _ = writeln!(s, "### `__vdso_clock_gettime`, disassembled\n");
        for (title, text) in [
            (
                "The host image (`target/vdso/vdso.so`)",
                &self.disassembly.host,
            ),
            (
                "The kernel's vDSO on this machine",
                &self.disassembly.kernel,
            ),
        ] {
            let _ = writeln!(
                s,
                "<details><summary>{title}: {} instructions</summary>\n\n```text\n{text}\n```\n</details>\n",
                text.lines().count()
            );
        }
    }
}

/// A design table's row: label, host setup, namespaced setup.
type Row = (&'static str, &'static str, &'static str);

/// The design table's rows.
const DESIGN_ROWS: [Row; 4] = [
    ("(a) two images", "host", "timens"),
    ("(b) run-time branch", "b-host", "b-ns"),
    ("(c) Linux's merged", "c-host", "c-ns"),
    ("(d) static branch", "d-host", "d-ns"),
];

fn setup_variant(name: &str) -> Variant {
    Setup::by_name(name).map_or(Variant::Host, |s| s.variant)
}
