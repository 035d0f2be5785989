//! What the run's numbers say: the targets met or missed, and the cost of
//! each design the seed weighed.

use std::fmt::Write as _;

use kernel_side::targets::Target;
use vdso_benches::calls::Call;

use super::template::{self, fill};
use super::{
    MONOTONIC, Report, Row, design_row, design_rows, ns, ratio, rdpid_rows, shipped_names, x,
};

/// "met" if `r` rounded to two decimals is at most `limit`.
fn verdict(r: Option<f64>, limit: f64) -> &'static str {
    match r {
        Some(r) if (r * 100.0).round() / 100.0 <= limit => "met",
        Some(_) => "**missed**",
        None => "n/a",
    }
}

impl Report {
    pub(super) fn targets(&self) -> String {
        let m = &self.medians;
        let floor = m.floor("lfence-rdtsc");
        let (host, timens) = shipped_names();
        let (k, h, t) = (
            m.hot(MONOTONIC, "kernel"),
            m.hot(MONOTONIC, &host),
            m.hot(MONOTONIC, &timens),
        );
        let own = |v: Option<f64>| v.zip(floor).map(|(v, f)| v - f);
        let mut s = String::new();
        let _ = writeln!(s, "| target | criterion medians | | interleaved |");
        let _ = writeln!(s, "|---|---:|---|---:|");
        // The interleaved ratio, and its verdict against the same limit.
        let il = |a, b, c, limit| {
            let r = self.interleaved.get(a, b, c).map(|(m, _, _)| m);
            format!("{}, {}", self.interleaved_ratio(a, b, c), verdict(r, limit))
        };
        // Each limit stands beside the label that states it.
        let _ = writeln!(
            s,
            "| host clock_gettime(MONOTONIC) ≤ 1.00x the kernel's vDSO | {} | {} | {} |",
            x(ratio(h, k)),
            verdict(ratio(h, k), 1.0),
            il("kernel", &host, MONOTONIC, 1.0)
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
            il(&host, &timens, MONOTONIC, 1.03)
        );
        for call in [
            Call::ClockGettime(common::clock::CLOCK_MONOTONIC_COARSE),
            Call::ClockGettime(common::clock::CLOCK_REALTIME_COARSE),
            Call::Time,
        ] {
            let r = ratio(m.hot(call, &host), m.hot(call, "kernel"));
            let _ = writeln!(
                s,
                "| host {} ≤ 1.00x the kernel's | {} | {} | {} |",
                call.label(),
                x(r),
                verdict(r, 1.0),
                il("kernel", &host, call, 1.0)
            );
        }
        let g = |t: &str| ratio(m.hot(Call::Getcpu, t), m.hot(Call::Getcpu, "kernel"));
        let _ = writeln!(
            s,
            "| getcpu (RDTSCP) against the kernel's ({}) | {} | reported | |",
            if self.kernel_rdpid {
                "RDPID"
            } else {
                "its own"
            },
            x(g(&host))
        );
        let _ = writeln!(
            s,
            "| getcpu, design (d) with the RDPID alternative applied | {} | reported | |",
            x(rdpid_rows().next().and_then(|r| g(&r.host.name())))
        );
        // A page a CPU idle past its tick has left stale: the nanoseconds
        // carry whole seconds, taken off by subtraction (common::clock).
        for secs in 1..=3 {
            let _ = writeln!(
                s,
                "| host clock_gettime(MONOTONIC) on a page {secs} s stale, against a fresh one | | reported | {} |",
                self.interleaved_ratio(&host, &format!("{host}-stale-{secs}s"), MONOTONIC)
            );
        }
        fill(template::TARGETS, &[("table", &s.trim_end())])
    }

    pub(super) fn verdict(&self) -> String {
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
        // The ranking by instructions: exact, unlike the times.
        let rank = |pick: fn(&Row) -> Target| {
            let mut rows: Vec<(f64, String)> = design_rows()
                .iter()
                .filter_map(|r| Some((self.count(&pick(r).name(), MONOTONIC)?, r.label())))
                .collect();
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows.iter()
                .map(|(c, l)| format!("{l} {c:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Each design's host process and namespaced one, by name; (a)'s
        // host process is what every design's host path is measured against.
        let [a, b, c, d] = ['a', 'b', 'c', 'd'].map(|letter| {
            let row = design_row(letter);
            (row.host.name(), row.namespaced.name())
        });
        let host = &a.0;
        fill(
            template::VERDICT,
            &[
                (
                    "a_against_kernel",
                    &self.interleaved_ratio("kernel", host, MONOTONIC),
                ),
                ("a_instructions", &self.instr(host, MONOTONIC)),
                ("kernel_instructions", &self.instr("kernel", MONOTONIC)),
                ("a_namespaced_hot", &pct(host, &a.1)),
                ("a_namespaced_instructions", &dins(&a.1, host)),
                ("a_namespaced_cold", &cold_d(&a.1, host)),
                ("b_host_hot", &pct(host, &b.0)),
                ("b_host_instructions", &dins(&b.0, host)),
                ("b_host_cold", &cold_d(&b.0, host)),
                ("b_namespaced_hot", &pct(&b.0, &b.1)),
                ("c_host_hot", &pct(host, &c.0)),
                ("c_host_instructions", &dins(&c.0, host)),
                ("c_host_cold", &cold_d(&c.0, host)),
                ("c_namespaced_hot", &pct(&c.0, &c.1)),
                ("c_namespaced_instructions", &dins(&c.1, &c.0)),
                ("d_host_hot", &pct(host, &d.0)),
                ("d_host_instructions", &dins(&d.0, host)),
                ("d_host_cold", &cold_d(&d.0, host)),
                ("d_namespaced_hot", &pct(&d.0, &d.1)),
                ("host_ranking", &rank(|r| r.host)),
                ("namespaced_ranking", &rank(|r| r.namespaced)),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::verdict;

    #[test]
    fn a_target_is_met_only_within_its_limit_at_two_decimals() {
        assert_eq!(verdict(Some(1.004), 1.0), "met");
        assert_eq!(verdict(Some(1.006), 1.0), "**missed**");
        assert_eq!(verdict(Some(1.034), 1.03), "met");
        assert_eq!(verdict(Some(1.036), 1.03), "**missed**");
        assert_eq!(verdict(None, 1.0), "n/a");
    }
}
