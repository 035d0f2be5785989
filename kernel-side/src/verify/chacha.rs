//! The rules for `getrandom`'s ChaCha20 block function, checked on its
//! machine code: the key it holds must not outlive the call anywhere but
//! in the caller's state. The state is `MAP_DROPPABLE` (left out of core
//! dumps, wiped on fork); the stack and the registers are not.
//!
//! - An image that exports `getrandom` has the function, under
//!   [`CHACHA20_BLOCKS_SYMBOL`], in its unstripped link (the stripped image
//!   has no static symbol table; the build verifies the unstripped link
//!   first).
//! - It touches no stack: no push, pop or call, no operand based on `rsp`;
//!   only its final `ret`.
//! - It stores only through `rdi` (the output) and `rdx` (the counter,
//!   which lives in the caller's frame), each alone as the address.
//! - It returns with every vector register it wrote cleared: the code that
//!   runs straight to its only `ret`, which no branch enters part way, sets
//!   each of them to zero by a zeroing idiom (`pxor r, r` and the like) and
//!   writes none of them again.
//!
//! Code these rules cannot follow (a branch out of the function, an
//! indirect jump, a `ret` before the end) is refused as such.

use std::collections::{BTreeMap, BTreeSet};

use common::abi::CHACHA20_BLOCKS_SYMBOL;
use common::entries::Placed;
use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register,
};
use object::read::elf::{SectionHeader, Sym};

use super::{Checker, E, Violation};

/// The entry whose keystream the block function makes.
const NEEDS_IT: &str = "getrandom";

impl Checker<'_, '_> {
    /// Finds the block function in the unstripped link's symbol table and
    /// checks its code. Nothing to find in a stripped image.
    pub(super) fn block_function(&mut self, entries: &[Placed]) {
        let symtab = self.file.elf_symbol_table();
        if symtab.is_empty() {
            return;
        }
        let needed = entries.iter().any(|e| e.entry.name == NEEDS_IT);
        let found = symtab.iter().find(|s| {
            symtab.symbol_name(E, s).ok() == Some(CHACHA20_BLOCKS_SYMBOL.as_bytes())
                && !s.is_undefined(E)
        });
        let Some(sym) = found else {
            if needed {
                self.fail(Violation::NoBlockFunction);
            }
            return;
        };
        let (at, size) = (sym.st_value(E), sym.st_size(E));
        // The bytes of the section that holds it, by address.
        let sections = self.file.elf_section_table();
        let code = sections.iter().find_map(|s| {
            let bytes = s.data(E, self.data).ok()?;
            let from = usize::try_from(at.checked_sub(s.sh_addr(E))?).ok()?;
            let to = from.checked_add(usize::try_from(size).ok()?)?;
            let executable = s.sh_flags(E).0 & object::elf::SHF_EXECINSTR.0 != 0;
            bytes.get(from..to).filter(|_| executable)
        });
        match code {
            Some(code) if !code.is_empty() => {
                let found = check(code, at);
                self.out.violations.extend(found);
            }
            _ => self.fail(Violation::BlockFunctionUnreadable {
                why: format!("its symbol ({size} bytes at {at:#x}) covers no code"),
            }),
        }
    }
}

/// Every rule on the function's code, `code` at address `start`.
fn check(code: &[u8], start: u64) -> Vec<Violation> {
    let end = start + code.len() as u64;
    let insns: Vec<Instruction> = Decoder::with_ip(64, code, start, DecoderOptions::NONE)
        .iter()
        .collect();
    let mut out = Vec::new();
    let unreadable = |why: String| Violation::BlockFunctionUnreadable { why };
    let mut factory = InstructionInfoFactory::new();
    let mut targets = BTreeSet::new();
    // Each vector register written: the most bits written, and its name.
    let mut written: BTreeMap<Vector, (u32, String)> = BTreeMap::new();
    for (n, insn) in insns.iter().enumerate() {
        let at = insn.ip();
        if insn.is_invalid() {
            out.push(unreadable(format!("undecodable bytes at {at:#x}")));
            return out;
        }
        let last = n + 1 == insns.len();
        match insn.flow_control() {
            FlowControl::Return if last => continue,
            FlowControl::Return => {
                out.push(unreadable(format!("it returns at {at:#x}, before its end")))
            }
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                if insn.op0_kind() == OpKind::NearBranch64 =>
            {
                let target = insn.near_branch_target();
                if !(start..end).contains(&target) {
                    out.push(unreadable(format!(
                        "it branches to {target:#x}, outside itself, at {at:#x}"
                    )));
                }
                targets.insert(target);
            }
            FlowControl::IndirectBranch => {
                out.push(unreadable(format!("it jumps indirectly at {at:#x}")));
            }
            _ => {}
        }
        let info = factory.info(insn);
        let rsp = |r: Register| r != Register::None && r.full_register() == Register::RSP;
        if insn.stack_pointer_increment() != 0
            || info.used_registers().iter().any(|u| rsp(u.register()))
            || info
                .used_memory()
                .iter()
                .any(|m| rsp(m.base()) || rsp(m.index()))
        {
            out.push(Violation::BlockFunctionTouchesStack { at });
        }
        for m in info.used_memory() {
            let through =
                matches!(m.base(), Register::RDI | Register::RDX) && m.index() == Register::None;
            if writes(m.access()) && !through {
                out.push(Violation::BlockFunctionStores {
                    at,
                    through: name(m.base()),
                });
            }
        }
        for u in info.used_registers() {
            if let Some((v, bits)) = vector(u.register())
                && writes(u.access())
            {
                let entry = written.entry(v).or_insert((0, String::new()));
                if bits > entry.0 {
                    *entry = (bits, name(u.register()));
                }
            }
        }
    }
    match insns.last() {
        Some(last) if last.flow_control() == FlowControl::Return => {}
        _ => {
            out.push(unreadable("it does not end with `ret`".into()));
            return out;
        }
    }
    // The straight run to the `ret`: no branch in it, none into it but at
    // its first instruction.
    let mut first = insns.len() - 1;
    while first > 0
        && insns[first - 1].flow_control() == FlowControl::Next
        && !targets.contains(&insns[first].ip())
    {
        first -= 1;
    }
    // The bits of each register that run leaves zero.
    let mut cleared: BTreeMap<Vector, u32> = BTreeMap::new();
    for insn in &insns[first..] {
        if let Some((v, bits)) = zeroed(insn) {
            cleared.insert(v, bits);
            continue;
        }
        for u in factory.info(insn).used_registers() {
            if let Some((v, _)) = vector(u.register())
                && writes(u.access())
            {
                cleared.remove(&v);
            }
        }
    }
    for (v, (bits, register)) in written {
        if cleared.get(&v).is_none_or(|&c| c < bits) {
            out.push(Violation::BlockFunctionLeavesRegister { register });
        }
    }
    out
}

fn writes(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// A vector register: an MMX one, or an SSE/AVX one (`xmmN`, `ymmN` and
/// `zmmN` are one register, of which a write sets 128, 256 or 512 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Vector {
    Mmx(usize),
    Sse(usize),
}

/// The vector register `r` is part of, and the bits `r` spans.
fn vector(r: Register) -> Option<(Vector, u32)> {
    if r.is_mm() {
        Some((Vector::Mmx(r.number()), 64))
    } else if r.is_xmm() {
        Some((Vector::Sse(r.number()), 128))
    } else if r.is_ymm() {
        Some((Vector::Sse(r.number()), 256))
    } else if r.is_zmm() {
        Some((Vector::Sse(r.number()), 512))
    } else {
        None
    }
}

/// The register a zeroing idiom clears (`pxor r, r`, `xorps r, r`, their
/// VEX and EVEX forms with one register throughout), and how many bits of
/// it: a legacy SSE form leaves the bits above 128 as they were, a VEX or
/// EVEX form clears the whole register.
fn zeroed(insn: &Instruction) -> Option<(Vector, u32)> {
    use Mnemonic::*;
    let vex = match insn.mnemonic() {
        Pxor | Xorps | Xorpd => false,
        Vpxor | Vxorps | Vxorpd | Vpxord | Vpxorq => true,
        _ => return None,
    };
    let mut regs = (0..insn.op_count())
        .map(|i| (insn.op_kind(i) == OpKind::Register).then(|| insn.op_register(i)));
    let first = regs.next()??;
    if !regs.all(|r| r == Some(first)) {
        return None;
    }
    let (v, bits) = vector(first)?;
    Some((v, if vex { 512 } else { bits }))
}

/// A register as Intel syntax spells it (`rsi`), or "an absolute address".
fn name(r: Register) -> String {
    if r == Register::None {
        "an absolute address".into()
    } else {
        format!("{r:?}").to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOAD_KEY: [u8; 4] = [0xf3, 0x0f, 0x6f, 0x06]; // movdqu xmm0, [rsi]
    const TEST_RCX: [u8; 3] = [0x48, 0x85, 0xc9]; // test rcx, rcx
    const CLEAR: [u8; 4] = [0x66, 0x0f, 0xef, 0xc0]; // pxor xmm0, xmm0
    const RET: u8 = 0xc3;

    fn messages(code: &[u8]) -> Vec<String> {
        check(code, 0x1000)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn clearing_on_the_way_to_ret_is_enough() {
        let code = [&LOAD_KEY[..], &TEST_RCX, &[0x90, 0x90], &CLEAR, &[RET]].concat();
        assert_eq!(messages(&code), Vec::<String>::new());
    }

    /// A branch that lands on the `ret` skips the clearing on its path,
    /// though the clearing stands right before the `ret`.
    #[test]
    fn a_branch_past_the_clearing_leaves_the_register() {
        // je +4: from the end of the jump over the pxor, onto the ret.
        let code = [&LOAD_KEY[..], &TEST_RCX, &[0x74, 0x04], &CLEAR, &[RET]].concat();
        assert_eq!(
            messages(&code),
            ["the ChaCha20 block function returns with xmm0 not cleared"]
        );
    }

    /// A legacy SSE zeroing leaves a YMM register's upper half. (A VEX
    /// write sets the whole register, up to ZMM, which is how the decoder
    /// names it.)
    #[test]
    fn a_narrow_clearing_does_not_clear_a_wide_register() {
        let load_ymm = [0xc5, 0xfe, 0x6f, 0x06]; // vmovdqu ymm0, [rsi]
        let code = [&load_ymm[..], &CLEAR, &[RET]].concat();
        assert_eq!(
            messages(&code),
            ["the ChaCha20 block function returns with zmm0 not cleared"]
        );
        let vex_clear = [0xc5, 0xf9, 0xef, 0xc0]; // vpxor xmm0, xmm0, xmm0
        let code = [&load_ymm[..], &vex_clear, &[RET]].concat();
        assert_eq!(messages(&code), Vec::<String>::new());
    }
}
