//! What the tests of `common` share: running one test over every layout.

/// Runs `$body` once per data-page layout of every architecture, with `$P`
/// that layout's time page type: the clock algorithms are one generic
/// source, and every layout is held to the same tests.
#[macro_export]
macro_rules! for_each_layout {
    (|$P:ident| $body:block) => {{
        {
            type $P = <common::layout::Linux6_6 as common::layout::Layout>::Page;
            $body
        }
        {
            type $P = <common::layout::Linux6_12 as common::layout::Layout>::Page;
            $body
        }
        {
            type $P = <common::layout::Linux6_18 as common::layout::Layout>::Page;
            $body
        }
        // arm64's 6.18 page (no `max_cycles`), read by the same algorithms
        // on this machine's counter.
        {
            type $P = <common::layout::Aarch64Linux6_18 as common::layout::Layout>::Page;
            $body
        }
    }};
}
