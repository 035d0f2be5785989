//! `cargo xtask build-vdso --counter`: the default images read the TSC with
//! RDTSCP, and `--counter lfence-rdtsc` gives images that read it with
//! `lfence; rdtsc` and still pass every rule.

use xshell::Shell;
use xtask::build_vdso::{self, Counter, Dirs};
use xtask::project_root;

const LFENCE_RDTSC: &[u8] = &[0x0f, 0xae, 0xe8, 0x0f, 0x31];
const RDTSCP: &[u8] = &[0x0f, 0x01, 0xf9];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The code of each image built with `counter` that reads the clocks: the
/// text from the first slot on, less `getcpu`'s slot, which reads TSC_AUX
/// with RDTSCP whatever the counter. (The clock entries route to code
/// after the slots, so their slots alone do not hold the counter read.)
/// In a build dir of its own (a shared one would be rebuilt under a
/// concurrent test's flags).
fn clock_code(counter: Counter) -> Vec<Vec<u8>> {
    let root = project_root()
        .join("target")
        .join(format!("counter-{}", counter.name()));
    let dirs = Dirs {
        build: root.join("build"),
        out: root.join("out"),
    };
    let sh = Shell::new().expect("creating an xshell Shell");
    let built = build_vdso::build_pair(
        &sh,
        &dirs,
        build_vdso::ARCH,
        build_vdso::ABI,
        &counter.cfgs(),
    )
    .unwrap_or_else(|e| panic!("building with --counter {}: {e:#}", counter.name()));
    let getcpu = build_vdso::entries(build_vdso::ARCH, build_vdso::ABI)
        .into_iter()
        .find(|e| e.entry.name == "getcpu")
        .expect("a getcpu entry")
        .slot;
    built
        .iter()
        .map(|b| {
            let bytes = std::fs::read(&b.path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", b.path.display()));
            let text = common::entries::TEXT_START as usize;
            let (before, after) = (getcpu.offset as usize, getcpu.end() as usize);
            [&bytes[text..before], &bytes[after..]].concat()
        })
        .collect()
}

#[test]
fn images_read_the_counter_the_way_they_were_built_to() {
    for (counter, wanted, unwanted) in [
        (Counter::Rdtscp, RDTSCP, LFENCE_RDTSC),
        (Counter::LfenceRdtsc, LFENCE_RDTSC, RDTSCP),
    ] {
        for code in clock_code(counter) {
            assert!(
                contains(&code, wanted),
                "--counter {}: the clock code lacks {wanted:02x?}",
                counter.name()
            );
            assert!(
                !contains(&code, unwanted),
                "--counter {}: the clock code has {unwanted:02x?}",
                counter.name()
            );
        }
    }
}
