//! x86_64's machine-code rules, decoded with iced-x86: direct calls and
//! jumps land inside the image, and nothing jumps through memory.

use iced_x86::{Decoder, DecoderOptions, FlowControl, OpKind};

use super::{Code, Violation};

pub fn check(code: &Code<'_>) -> Vec<Violation> {
    let mut found = Vec::new();
    for (addr, bytes) in &code.ranges {
        let mut decoder = Decoder::with_ip(64, bytes, *addr, DecoderOptions::NONE);
        for insn in decoder.iter() {
            match insn.flow_control() {
                FlowControl::Call
                | FlowControl::UnconditionalBranch
                | FlowControl::ConditionalBranch
                    if matches!(insn.op0_kind(), OpKind::NearBranch64) =>
                {
                    let target = insn.near_branch_target();
                    if !code.inside(target) {
                        found.push(Violation::BranchOutside {
                            at: insn.ip(),
                            target,
                        });
                    }
                }
                FlowControl::IndirectCall | FlowControl::IndirectBranch
                    if insn.op0_kind() == OpKind::Memory =>
                {
                    found.push(Violation::CallThroughMemory { at: insn.ip() });
                }
                _ => {}
            }
        }
    }
    found
}
