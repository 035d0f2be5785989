//! `vdso-live`'s results: the host image against the kernel's own vDSO
//! code, in turns at the kernel's address over its live pages.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use vdso_benches::calls::Call;

/// What was compared, and each call's ratio.
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    /// The running kernel's layout, which no pair serves.
    Unserved(String),
    Measured {
        layout: String,
        clock_mode: i32,
        clocksource: String,
        /// Whether the image had its RDPID alternative applied, as the
        /// kernel had its own.
        rdpid: bool,
        /// By call name: median image/kernel, its quartiles, and each
        /// side's median time per call in ns.
        rows: BTreeMap<String, LiveRow>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveRow {
    pub ratio: f64,
    pub q1: f64,
    pub q3: f64,
    pub kernel_ns: f64,
    pub image_ns: f64,
}

impl Live {
    pub(super) fn parse(text: &str) -> Result<Live> {
        let mut lines = text.lines();
        let head: Vec<&str> = lines
            .next()
            .context("vdso-live printed nothing")?
            .split_whitespace()
            .collect();
        let (layout, clock_mode, clocksource, rdpid) = match head[..] {
            ["unserved", kernels] => return Ok(Live::Unserved(kernels.replace('_', " "))),
            ["layout", l, "clock-mode", m, "clocksource", c, "rdpid", r] => {
                (l.to_string(), m.parse()?, c.to_string(), r.parse()?)
            }
            _ => bail!("unexpected first line from vdso-live: {head:?}"),
        };
        let mut rows = BTreeMap::new();
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [call, m, q1, q3, k, i] = f[..] else {
                bail!("unexpected line from vdso-live: {line:?}");
            };
            rows.insert(
                call.to_string(),
                LiveRow {
                    ratio: m.parse()?,
                    q1: q1.parse()?,
                    q3: q3.parse()?,
                    kernel_ns: k.parse()?,
                    image_ns: i.parse()?,
                },
            );
        }
        Ok(Live::Measured {
            layout,
            clock_mode,
            clocksource,
            rdpid,
            rows,
        })
    }

    pub(super) fn row(&self, call: Call) -> Option<LiveRow> {
        match self {
            Live::Measured { rows, .. } => rows.get(call.name()).copied(),
            Live::Unserved(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdso_live_output_parses() {
        let text = "layout linux-6.18 clock-mode 1 clocksource tsc rdpid true\n\
                    monotonic 1.0001 0.9903 1.0182 29.13 29.36\n";
        let live = Live::parse(text).unwrap();
        let row = live
            .row(Call::ClockGettime(common::clock::CLOCK_MONOTONIC))
            .unwrap();
        assert_eq!(row.ratio, 1.0001);
        assert_eq!(row.image_ns, 29.36);
        assert_eq!(
            Live::parse("unserved 6.13_to_6.14\n").unwrap(),
            Live::Unserved("6.13 to 6.14".into())
        );
        assert!(Live::parse("layout x\n").is_err());
    }
}
