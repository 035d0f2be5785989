//! Programs that would gain privileges at exec: set-user-ID or
//! set-group-ID to another identity, or with file capabilities for a user
//! other than root. Neither mode of vdso-run can give them the namespace:
//! the kernel runs them in secure-execution mode (`AT_SECURE`), where the
//! dynamic loader ignores `LD_PRELOAD`, so the preload library never loads
//! and they would read the host's clocks; and under `--as-vdso` (ptrace,
//! `no_new_privs`) they would run without the privileges they expect. Both
//! modes judge with this one function and say the same thing, each adding
//! why it cannot serve such a program itself.
//!
//! On a `nosuid` mount the kernel ignores all three, so nothing changes at
//! exec and both modes run such a program.
//!
//! Allocation-free: the preload library judges what its exec functions are
//! asked to run. Included by path into both crates.

use core::fmt;

/// What the kernel looks at in a file, at exec, to change a process's
/// privileges.
#[derive(Clone, Copy, Debug)]
pub struct FileIds {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Its `security.capability` attribute grants something: permitted or
    /// inheritable capabilities, or the effective bit (which alone makes
    /// the exec a secure one).
    pub capabilities: bool,
    /// On a mount with `nosuid` (the kernel then ignores all of the above).
    pub nosuid: bool,
}

/// The identity a program would be run with.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    pub euid: u32,
    pub egid: u32,
}

/// What a program would gain at exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gain {
    SetUid(u32),
    SetGid(u32),
    Capabilities,
}

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o010;

/// What running `file` as `who` would gain, if anything.
pub fn gain(file: &FileIds, who: Who) -> Option<Gain> {
    if file.nosuid {
        return None;
    }
    if file.mode & S_ISUID != 0 && file.uid != who.euid {
        return Some(Gain::SetUid(file.uid));
    }
    // Set-group-ID without group execute is mandatory locking, not an
    // identity.
    if file.mode & S_ISGID != 0 && file.mode & S_IXGRP != 0 && file.gid != who.egid {
        return Some(Gain::SetGid(file.gid));
    }
    // Root has every capability already: the kernel does not run it in
    // secure-execution mode for them.
    if file.capabilities && who.euid != 0 {
        return Some(Gain::Capabilities);
    }
    None
}

/// Whether a `security.capability` attribute's bytes (`vfs_cap_data`,
/// revision 1, 2 or 3) grant anything.
pub fn capabilities_grant(xattr: &[u8]) -> bool {
    let word = |i: usize| {
        xattr
            .get(i * 4..i * 4 + 4)
            .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    };
    if xattr.len() < 4 {
        return false;
    }
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 1;
    let effective = word(0) & VFS_CAP_FLAGS_EFFECTIVE != 0;
    // permitted, inheritable (and their high words from revision 2 on).
    effective || (1..xattr.len().min(20) / 4).any(|i| word(i) != 0)
}

impl fmt::Display for Gain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gain::SetUid(owner) => write!(
                f,
                "it is set-user-ID (owner uid {owner}), so it would change identity at exec"
            ),
            Gain::SetGid(group) => write!(
                f,
                "it is set-group-ID (group gid {group}), so it would change identity at exec"
            ),
            Gain::Capabilities => write!(
                f,
                "it has file capabilities (security.capability), which it would gain at exec"
            ),
        }
    }
}

/// The preload mode's refusal: why the library cannot reach such a
/// program, then `NeitherMode`. Said of PROGRAM before it starts and of
/// what a descendant execs.
pub struct PreloadCannot(pub Gain);

impl fmt::Display for PreloadCannot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the preload library cannot reach it: {}, and the kernel runs such a program in \
             secure-execution mode (AT_SECURE): it would run on the host's clocks; {}",
            self.0,
            NeitherMode(self.0)
        )
    }
}

/// Why neither mode can run it, and what does: the end of both modes'
/// refusals.
pub struct NeitherMode(pub Gain);

impl fmt::Display for NeitherMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "neither mode of vdso-run can give it the namespace (the dynamic loader ignores \
             LD_PRELOAD for it, and under --as-vdso it would run without its privileges); "
        )?;
        match self.0 {
            Gain::SetUid(owner) => write!(
                f,
                "run vdso-run as uid {owner}, for whom it changes nothing"
            ),
            Gain::SetGid(group) => write!(
                f,
                "run vdso-run with gid {group}, for whom it changes nothing"
            ),
            Gain::Capabilities => write!(
                f,
                "run vdso-run as root, for whom file capabilities change nothing"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Who = Who {
        euid: 1000,
        egid: 1000,
    };
    const ROOT: Who = Who { euid: 0, egid: 0 };

    fn file(mode: u32, uid: u32, gid: u32) -> FileIds {
        FileIds {
            mode,
            uid,
            gid,
            capabilities: false,
            nosuid: false,
        }
    }

    /// `security.capability` as the kernel stores it: `magic_etc`, then
    /// (permitted, inheritable) low words, high words from revision 2,
    /// and the root id in revision 3.
    fn xattr(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn set_user_id_and_set_group_id_change_another_identity_only() {
        assert_eq!(gain(&file(0o4755, 0, 0), USER), Some(Gain::SetUid(0)));
        assert_eq!(gain(&file(0o4755, 1000, 0), USER), None);
        assert_eq!(gain(&file(0o2755, 0, 50), USER), Some(Gain::SetGid(50)));
        assert_eq!(gain(&file(0o2755, 0, 1000), USER), None);
        // Set-group-ID without group execute is mandatory locking.
        assert_eq!(gain(&file(0o2705, 0, 50), USER), None);
        assert_eq!(gain(&file(0o0755, 0, 0), USER), None);
    }

    #[test]
    fn capabilities_change_nothing_for_root() {
        let caps = FileIds {
            capabilities: true,
            ..file(0o755, 0, 0)
        };
        assert_eq!(gain(&caps, USER), Some(Gain::Capabilities));
        assert_eq!(gain(&caps, ROOT), None);
    }

    #[test]
    fn nothing_changes_on_a_nosuid_mount() {
        let all = FileIds {
            capabilities: true,
            nosuid: true,
            ..file(0o6755, 0, 0)
        };
        assert_eq!(gain(&all, USER), None);
    }

    #[test]
    fn a_capability_attribute_grants_what_it_holds() {
        const REV1: u32 = 0x0100_0000;
        const REV2: u32 = 0x0200_0000;
        const REV3: u32 = 0x0300_0000;
        const EFFECTIVE: u32 = 1;
        const NET_RAW: u32 = 1 << 13;
        // cap_net_raw+ep, each revision.
        assert!(capabilities_grant(&xattr(&[REV1 | EFFECTIVE, NET_RAW, 0])));
        assert!(capabilities_grant(&xattr(&[
            REV2 | EFFECTIVE,
            NET_RAW,
            0,
            0,
            0
        ])));
        assert!(capabilities_grant(&xattr(&[
            REV3 | EFFECTIVE,
            NET_RAW,
            0,
            0,
            0,
            0
        ])));
        // Permitted only, a high word only, inheritable only.
        assert!(capabilities_grant(&xattr(&[REV2, NET_RAW, 0, 0, 0])));
        assert!(capabilities_grant(&xattr(&[REV2, 0, 0, 1, 0])));
        assert!(capabilities_grant(&xattr(&[REV2, 0, NET_RAW, 0, 0])));
        // The effective bit alone makes the exec a secure one.
        assert!(capabilities_grant(&xattr(&[REV2 | EFFECTIVE, 0, 0, 0, 0])));
        // Nothing granted; a revision 3 root id is not a capability.
        assert!(!capabilities_grant(&xattr(&[REV2, 0, 0, 0, 0])));
        assert!(!capabilities_grant(&xattr(&[REV3, 0, 0, 0, 0, 1000])));
        assert!(!capabilities_grant(&[]));
        assert!(!capabilities_grant(&[1, 0]));
    }
}
