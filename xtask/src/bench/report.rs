//! The generated section of BENCHMARKS.md: one run's results as tables,
//! the targets met or missed, and the verdict on the designs. The fixed
//! prose is in `report/*.md`; the code here computes what fills it.

use common::note::Variant;
use vdso_benches::calls::Call;
use vdso_benches::lab::Setup;

use super::{Counts, Disassembly, FULL, ImageFacts, Interleaved, Machine, Medians, Settings};
use template::fill;

mod tables;
mod template;
#[cfg(test)]
mod tests;
mod verdict;

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

const MONOTONIC: Call = Call::ClockGettime(common::clock::CLOCK_MONOTONIC);

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

impl Report {
    pub fn render(&self) -> String {
        [
            self.machine_section(),
            self.kernel_table(),
            self.designs_table(),
            self.cold_table(),
            self.count_table(),
            self.targets(),
            self.verdict(),
            self.listings(),
        ]
        .iter()
        // A blank line after each section, however its template ends.
        .map(|section| format!("{}\n\n", section.trim_end()))
        .collect()
    }

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

    fn machine_section(&self) -> String {
        let m = &self.machine;
        let flags = m
            .flags
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(" ");
        let quick = if self.settings.measurement < FULL.measurement {
            " --quick"
        } else {
            ""
        };
        let floor = |w| ns(self.medians.floor(w));
        fill(
            template::MACHINE,
            &[
                ("cpu", &m.cpu),
                ("cores", &m.cores),
                (
                    "virtual_machine",
                    &if m.hypervisor {
                        ", a virtual machine"
                    } else {
                        ""
                    },
                ),
                ("cpu_flags", &flags),
                ("kernel", &m.kernel),
                ("clocksource", &m.clocksource),
                ("rustc", &m.rustc),
                ("warm_up", &self.settings.warm_up),
                ("measurement", &self.settings.measurement),
                ("quick", &quick),
                ("minutes", &format!("{:.1}", self.minutes)),
                ("lfence_rdtsc", &floor("lfence-rdtsc")),
                ("rdtscp", &floor("rdtscp")),
                ("rdpid", &floor("rdpid")),
                ("call_noop", &floor("call-noop")),
            ],
        )
    }

    fn listings(&self) -> String {
        let (host, kernel) = (&self.disassembly.host, &self.disassembly.kernel);
        fill(
            template::LISTINGS,
            &[
                ("host_length", &host.lines().count()),
                ("host_listing", host),
                ("kernel_length", &kernel.lines().count()),
                ("kernel_listing", kernel),
            ],
        )
    }
}
