//! `vdso-ab`'s results: ratios of two targets called in turns.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use vdso_benches::calls::Call;

/// `vdso-ab`'s interleaved ratios, by (a, b, call name): the median B/A of
/// its A B B A rounds and the quartiles.
pub struct Interleaved(BTreeMap<(String, String, String), (f64, f64, f64)>);

impl Interleaved {
    pub(super) fn parse(text: &str) -> Result<Interleaved> {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [a, b, call, m, q1, q3] = f[..] else {
                bail!("unexpected line from vdso-ab: {line:?}");
            };
            out.insert(
                (a.into(), b.into(), call.into()),
                (m.parse()?, q1.parse()?, q3.parse()?),
            );
        }
        Ok(Interleaved(out))
    }

    pub(super) fn get(&self, a: &str, b: &str, call: Call) -> Option<(f64, f64, f64)> {
        self.get_named(a, b, call.name())
    }

    /// As [`get`](Self::get), for a call by its name (`getrandom-16`).
    pub(super) fn get_named(&self, a: &str, b: &str, call: &str) -> Option<(f64, f64, f64)> {
        self.0.get(&(a.into(), b.into(), call.into())).copied()
    }
}
