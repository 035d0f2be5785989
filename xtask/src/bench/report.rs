//! The generated section of BENCHMARKS.md: one run's results as tables,
//! the targets met or missed, and the verdict on the designs. The fixed
//! prose is in `report/*.md`; the code here computes what fills it.

use kernel_side::targets::{self, HOST, Target};
use vdso_benches::calls::Call;
use vdso_benches::lab;

use super::{
    ArchImages, Counts, Disassembly, FULL, ImageFacts, Interleaved, Live, Machine, Medians,
    Settings,
};
use template::fill;

mod getrandom;
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
    pub live: Live,
    pub counts: Counts,
    pub images: ImageFacts,
    /// Each architecture's shipped pair, sized and counted under qemu-user.
    pub arch_images: ArchImages,
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

/// A row of the design tables: one design, by its host process and its
/// namespaced one (`kernel_side::targets`).
#[derive(Clone, Copy)]
struct Row {
    host: Target,
    namespaced: Target,
}

impl Row {
    /// "(a) two images", ..., or "(d) with RDPID".
    fn label(&self) -> String {
        if self.host.rdpid {
            format!("({}) with RDPID", self.host.design())
        } else {
            format!("({}) {}", self.host.design(), self.host.design_summary())
        }
    }
}

/// The design tables' rows, (a) first: each design without alternatives.
fn design_rows() -> Vec<Row> {
    lab::design_pairs()
        .map(|(host, namespaced)| Row { host, namespaced })
        .collect()
}

/// The row of design `letter`, for prose that speaks of each design.
fn design_row(letter: char) -> Row {
    design_rows()
        .into_iter()
        .find(|r| r.host.design() == letter)
        .unwrap_or_else(|| panic!("no design ({letter}) in kernel_side::targets"))
}

/// The rows with the RDPID alternative applied: (d)'s.
fn rdpid_rows() -> impl Iterator<Item = Row> {
    targets::all()
        .filter(|t| t.rdpid && !t.namespaced)
        .map(|host| Row {
            host,
            namespaced: host.other_process(),
        })
}

/// The names of the shipped pair, which most tables compare: the host
/// image's and the timens image's.
fn shipped_names() -> (String, String) {
    (HOST.name(), HOST.other_process().name())
}

impl Report {
    pub fn render(&self) -> String {
        [
            self.machine_section(),
            self.live_table(),
            self.kernel_table(),
            self.designs_table(),
            self.cold_table(),
            self.count_table(),
            self.getrandom_table(),
            self.arch_table(),
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
