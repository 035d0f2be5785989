//! Criterion's results: the median of every bench of one run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use vdso_benches::calls::Call;

/// Criterion's medians, in ns, by (group, bench).
pub struct Medians(pub(super) BTreeMap<(String, String), f64>);

impl Medians {
    pub(super) fn read(dir: &Path) -> Result<Medians> {
        let mut out = BTreeMap::new();
        for group in std::fs::read_dir(dir)? {
            let group = group?;
            for bench in std::fs::read_dir(group.path())? {
                let bench = bench?;
                let file = bench.path().join("new").join("estimates.json");
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                let json: serde_json::Value = serde_json::from_str(&text)?;
                let median = json["median"]["point_estimate"]
                    .as_f64()
                    .with_context(|| format!("no median in {}", file.display()))?;
                out.insert(
                    (
                        group.file_name().to_string_lossy().into_owned(),
                        bench.file_name().to_string_lossy().into_owned(),
                    ),
                    median,
                );
            }
        }
        Ok(Medians(out))
    }

    pub(super) fn get(&self, group: &str, bench: &str) -> Option<f64> {
        self.0.get(&(group.to_string(), bench.to_string())).copied()
    }

    pub(super) fn hot(&self, call: Call, target: &str) -> Option<f64> {
        self.get(&format!("hot-{}", call.name()), target)
    }

    /// A cold median less the method's own cost for that flush set.
    pub(super) fn cold(&self, call: Call, target: &str) -> Option<f64> {
        let set = if target == "kernel" {
            "kernel"
        } else {
            "image"
        };
        Some(self.get(&format!("cold-{}", call.name()), target)? - self.get("cold-noop", set)?)
    }

    pub(super) fn floor(&self, what: &str) -> Option<f64> {
        self.get("floor", what)
    }
}
