//! The report's fixed prose lives in Markdown files beside this one, so it
//! is edited as Markdown; each `{name}` in them stands for a value of the
//! run, which the report fills in.

use std::fmt::{Display, Write as _};

// One per section of the report, in its order.
pub(super) const MACHINE: &str = include_str!("machine.md");
pub(super) const LIVE: &str = include_str!("live.md");
/// `LIVE`'s body when a comparison was made.
pub(super) const LIVE_MEASURED: &str = include_str!("live-measured.md");
pub(super) const KERNEL: &str = include_str!("kernel.md");
pub(super) const DESIGNS: &str = include_str!("designs.md");
pub(super) const COLD: &str = include_str!("cold.md");
pub(super) const COUNT: &str = include_str!("count.md");
/// The sentence `COUNT` ends with when the kernel's getcpu uses RDPID.
pub(super) const COUNT_KERNEL_RDPID: &str = include_str!("count-kernel-rdpid.md");
pub(super) const GETRANDOM: &str = include_str!("getrandom.md");
pub(super) const ARCHES: &str = include_str!("arches.md");
pub(super) const TARGETS: &str = include_str!("targets.md");
pub(super) const VERDICT: &str = include_str!("verdict.md");
pub(super) const LISTINGS: &str = include_str!("listings.md");

/// `template` with each `{name}` replaced by the value given for `name`.
///
/// A placeholder without a value, or a value without a placeholder, means
/// a template and the code filling it disagree: a bug, so it panics (the
/// fixture test renders every template).
pub(super) fn fill(template: &str, values: &[(&str, &dyn Display)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let len = rest[open..]
            .find('}')
            .unwrap_or_else(|| panic!("a `{{` without `}}` in {template:?}"));
        let name = &rest[open + 1..open + len];
        let i = values
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no value for {{{name}}} in {template:?}"));
        used[i] = true;
        let _ = write!(out, "{}", values[i].1);
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    if let Some(i) = used.iter().position(|u| !u) {
        panic!("no {{{}}} in {template:?}", values[i].0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn every_placeholder_takes_its_value_and_nothing_else_changes() {
        let text = fill("a {x} and {y}, {x} again", &[("x", &1.5), ("y", &"`y`")]);
        assert_eq!(text, "a 1.5 and `y`, 1.5 again");
    }

    #[test]
    fn a_value_is_never_read_as_a_template() {
        assert_eq!(fill("<{x}>", &[("x", &"{x}")]), "<{x}>");
    }

    #[test]
    #[should_panic(expected = "no value for {y}")]
    fn a_placeholder_without_a_value_is_a_bug() {
        fill("{x} {y}", &[("x", &1)]);
    }

    #[test]
    #[should_panic(expected = "no {y} in")]
    fn a_value_without_a_placeholder_is_a_bug() {
        fill("{x}", &[("x", &1), ("y", &2)]);
    }
}
