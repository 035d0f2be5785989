//! aarch64's machine-code rules, decoded with yaxpeax-arm:
//!
//! - every word of code decodes;
//! - direct branches (`b`, `bl`, `b.cond`, `cbz`, `cbnz`, `tbz`, `tbnz`)
//!   land inside the image;
//! - nothing branches through a register (`br`, `blr` and their
//!   pointer-authenticated forms): a jump table or a call through a loaded
//!   address, whose target would need a landing pad on guarded pages and
//!   which is how a call out through the GOT looks;
//! - every exported function starts with `bti c`, since stable rustc cannot
//!   place landing pads itself, and the entry's code follows it;
//! - every counter read is Linux's sequence, `isb; mrs cntvct_el0; eor;
//!   add sp; ldr xzr` (`arch_counter_enforce_ordering`): an emulator runs
//!   in order and cannot show a missing barrier, so the machine code is
//!   where it is checked;
//! - each trampoline is Linux's bytes: `nop`, then at the symbol
//!   `mov x8, #139; svc #0`.

use common::entries::{EntryKind, Placed};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand, ShiftStyle, SizeCode};

use super::{Code, Violation};

/// `mrs`'s encoding of the counter registers (op0 3, op1 3, CRn 14, CRm 0):
/// CNTPCT_EL0, CNTVCT_EL0, CNTPCTSS_EL0, CNTVCTSS_EL0. Any of them read
/// out of order gives a time from before `cycle_last`.
const COUNTERS: [u16; 4] = [0x5f01, 0x5f02, 0x5f05, 0x5f06];

/// A part of Linux's ordering around a counter read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterPart {
    Isb,
    Eor,
    Add,
    Ldr,
}

impl CounterPart {
    pub fn instruction(self) -> &'static str {
        match self {
            CounterPart::Isb => "the `isb` right before it",
            CounterPart::Eor => "the `eor` of its value with itself right after it",
            CounterPart::Add => "the `add` of that zero to sp right after the `eor`",
            CounterPart::Ldr => "the `ldr xzr` from that address right after the `add`",
        }
    }

    pub fn why(self) -> &'static str {
        match self {
            CounterPart::Isb => {
                "the CPU may read the counter before the loads ahead of it, so before `cycle_last` was read"
            }
            CounterPart::Eor | CounterPart::Add | CounterPart::Ldr => {
                "without a load whose address depends on the value, the seqlock's `dmb ishld` does not order the counter read, and the re-read of `seq` may happen before it"
            }
        }
    }
}

/// One decoded instruction, at its address.
struct Decoded {
    at: u64,
    word: u32,
    insn: Option<Instruction>,
}

fn decode_all(code: &Code<'_>) -> Vec<Decoded> {
    let decoder = InstDecoder::default();
    let mut out = Vec::new();
    for (addr, bytes) in &code.ranges {
        for (i, chunk) in bytes.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            out.push(Decoded {
                at: addr + 4 * i as u64,
                word,
                insn: decoder.decode(&mut U8Reader::new(chunk)).ok(),
            });
        }
    }
    out
}

fn decode_at(code: &Code<'_>, at: u64) -> Option<Instruction> {
    let word = code.word(at)?.to_le_bytes();
    InstDecoder::default()
        .decode(&mut U8Reader::new(&word[..]))
        .ok()
}

pub fn check(code: &Code<'_>, entries: &[Placed]) -> Vec<Violation> {
    let mut found = Vec::new();
    for d in decode_all(code) {
        let Some(insn) = &d.insn else {
            found.push(Violation::Undecodable {
                at: d.at,
                word: d.word,
            });
            continue;
        };
        if let Some(offset) = direct_branch(insn) {
            let target = d.at.wrapping_add_signed(offset);
            if !code.inside(target) {
                found.push(Violation::BranchOutside { at: d.at, target });
            }
        }
        if is_indirect_branch(insn.opcode) {
            found.push(Violation::IndirectBranch { at: d.at });
        }
        if let Some(reg) = counter_read(insn)
            && let Some(missing) = counter_ordering(code, d.at, reg)
        {
            found.push(Violation::CounterOrdering { at: d.at, missing });
        }
    }
    for e in entries {
        match e.kind {
            EntryKind::Function => {
                if !decode_at(code, e.offset()).is_some_and(|i| is_bti_c(&i)) {
                    found.push(Violation::NoLandingPad {
                        name: e.symbol.to_string(),
                        at: e.offset(),
                    });
                } else if decode_at(code, e.offset() + 4).is_none_or(|i| i.opcode == Opcode::UDF) {
                    // The landing pad falls through into the entry's code,
                    // which the linker must have placed right after it.
                    found.push(Violation::LandingPadGap {
                        name: e.symbol.to_string(),
                        at: e.offset() + 4,
                    });
                }
            }
            EntryKind::Trampoline => {
                if let Some(v) = trampoline(code, e) {
                    found.push(v);
                }
            }
        }
    }
    found
}

/// The offset from the instruction a direct branch goes to.
fn direct_branch(insn: &Instruction) -> Option<i64> {
    match insn.opcode {
        Opcode::B
        | Opcode::BL
        | Opcode::Bcc(_)
        | Opcode::BCcc(_)
        | Opcode::CBZ
        | Opcode::CBNZ
        | Opcode::TBZ
        | Opcode::TBNZ => insn.operands.iter().find_map(|o| match o {
            Operand::PCOffset(offset) => Some(*offset),
            _ => None,
        }),
        _ => None,
    }
}

fn is_indirect_branch(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::BR
            | Opcode::BLR
            | Opcode::BRAA
            | Opcode::BRAAZ
            | Opcode::BRAB
            | Opcode::BRABZ
            | Opcode::BLRAA
            | Opcode::BLRAAZ
            | Opcode::BLRAB
            | Opcode::BLRABZ
    )
}

/// `hint #34`: BTI with the `c` target (CRm 4, op2 2).
fn is_bti_c(insn: &Instruction) -> bool {
    insn.opcode == Opcode::HINT
        && matches!(
            insn.operands[..2],
            [Operand::ControlReg(4), Operand::Immediate(2)]
        )
}

fn is_nop(insn: &Instruction) -> bool {
    insn.opcode == Opcode::HINT
        && matches!(
            insn.operands[..2],
            [Operand::ControlReg(0), Operand::Immediate(0)]
        )
}

/// The register a counter read writes, if `insn` is one.
fn counter_read(insn: &Instruction) -> Option<u16> {
    match (insn.opcode, &insn.operands[..2]) {
        (
            Opcode::MRS,
            [
                Operand::Register(SizeCode::X, reg),
                Operand::SystemReg(sysreg),
            ],
        ) if COUNTERS.contains(sysreg) => Some(*reg),
        _ => None,
    }
}

/// The first part of Linux's sequence missing around the counter read at
/// `at` into x`value`, if any: `isb` before it, then `eor xT, xV, xV`,
/// `add xT, sp, xT`, `ldr xzr, [xT]`.
fn counter_ordering(code: &Code<'_>, at: u64, value: u16) -> Option<CounterPart> {
    let isb = at
        .checked_sub(4)
        .and_then(|a| decode_at(code, a))
        .is_some_and(|i| i.opcode == Opcode::ISB);
    if !isb {
        return Some(CounterPart::Isb);
    }
    let Some(Some(tmp)) = decode_at(code, at + 4).map(|i| match (i.opcode, i.operands) {
        (
            Opcode::EOR,
            [
                Operand::Register(SizeCode::X, t),
                Operand::Register(SizeCode::X, a),
                Operand::RegShift(ShiftStyle::LSL, 0, SizeCode::X, b),
                _,
            ],
        ) if a == value && b == value && t != 31 => Some(t),
        _ => None,
    }) else {
        return Some(CounterPart::Eor);
    };
    let add = decode_at(code, at + 8).is_some_and(|i| {
        i.opcode == Opcode::ADD
            && matches!(
                i.operands[..3],
                [
                    Operand::RegisterOrSP(SizeCode::X, d),
                    Operand::RegisterOrSP(SizeCode::X, 31),
                    Operand::RegShift(ShiftStyle::LSL, 0, SizeCode::X, m),
                ] if d == tmp && m == tmp
            )
    });
    if !add {
        return Some(CounterPart::Add);
    }
    let ldr = decode_at(code, at + 12).is_some_and(|i| {
        i.opcode == Opcode::LDR
            && matches!(
                i.operands[..2],
                [Operand::Register(SizeCode::X, 31), Operand::RegPreIndex(base, 0, false)]
                    if base == tmp
            )
    });
    if !ldr {
        return Some(CounterPart::Ldr);
    }
    None
}

/// Linux's `__kernel_rt_sigreturn`, or why `e` is not it.
fn trampoline(code: &Code<'_>, e: &Placed) -> Option<Violation> {
    let words = [e.slot.offset, e.offset(), e.offset() + 4];
    let decoded: Vec<Option<Instruction>> = words.iter().map(|&a| decode_at(code, a)).collect();
    let is_sigreturn = e.entry.name == "rt_sigreturn"
        && e.lead == 4
        && decoded[0].as_ref().is_some_and(is_nop)
        && decoded[1].as_ref().is_some_and(|i| {
            i.opcode == Opcode::MOVZ
                && matches!(
                    i.operands[..2],
                    [Operand::Register(SizeCode::X, 8), Operand::ImmShift(139, 0)]
                )
        })
        && decoded[2]
            .as_ref()
            .is_some_and(|i| i.opcode == Opcode::SVC && i.operands[0] == Operand::Imm16(0));
    if is_sigreturn {
        return None;
    }
    let found = decoded
        .iter()
        .map(|i| {
            i.as_ref()
                .map_or("(no code)".to_string(), ToString::to_string)
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(Violation::TrampolineBytes {
        name: e.symbol.to_string(),
        at: e.offset(),
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(word: u32) -> Instruction {
        InstDecoder::default()
            .decode(&mut U8Reader::new(&word.to_le_bytes()[..]))
            .expect("decodes")
    }

    /// The words Linux 6.18's arm64 vDSO has (Debian's build), as the
    /// decoder sees them.
    #[test]
    fn linuxs_words_decode_as_the_rules_expect() {
        assert!(is_bti_c(&one(0xd503245f)));
        assert!(is_nop(&one(0xd503201f)));
        assert!(!is_bti_c(&one(0xd503201f)));
        assert_eq!(counter_read(&one(0xd53be042)), Some(2)); // mrs x2, cntvct_el0
        assert_eq!(counter_read(&one(0xd53be0c2)), Some(2)); // mrs x2, cntvctss_el0
        assert!(is_indirect_branch(one(0xd61f0200).opcode)); // br x16
        assert!(is_indirect_branch(one(0xd63f0200).opcode)); // blr x16
        assert!(!is_indirect_branch(one(0xd65f03c0).opcode)); // ret
        assert_eq!(direct_branch(&one(0x94000003)), Some(12)); // bl .+12
        assert_eq!(direct_branch(&one(0x17ffffff)), Some(-4)); // b .-4
    }

    /// Linux's counter read (`isb; mrs x2, cntvct_el0; eor x5, x2, x2; add
    /// x5, sp, x5; ldr xzr, [x5]`) passes, and each part taken out is named.
    #[test]
    fn linuxs_counter_sequence_passes_and_each_part_is_required() {
        let linux = [0xd5033fdf, 0xd53be042, 0xca020045, 0x8b2563e5, 0xf94000bf];
        let nop = 0xd503201f;
        let bytes =
            |words: &[u32]| -> Vec<u8> { words.iter().flat_map(|w| w.to_le_bytes()).collect() };
        let check = |words: [u32; 5]| {
            let b = bytes(&words);
            let code = Code {
                ranges: vec![(0x800, &b[..])],
            };
            counter_ordering(&code, 0x804, 2)
        };
        assert_eq!(check(linux), None);
        for (i, part) in [
            (0, CounterPart::Isb),
            (2, CounterPart::Eor),
            (3, CounterPart::Add),
            (4, CounterPart::Ldr),
        ] {
            let mut words = linux;
            words[i] = nop;
            assert_eq!(check(words), Some(part), "word {i} replaced by nop");
        }
    }
}
