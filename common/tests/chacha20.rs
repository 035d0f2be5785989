//! The ChaCha20 block function `getrandom` runs (the same assembly the
//! images link, compiled into this test): published test vectors, the
//! 64-bit counter's carry, agreement with an independent implementation
//! (RustCrypto's `chacha20`, its DJB variant) over thousands of random
//! keys, and what it leaves in the vector registers.

use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use common::getrandom::{BLOCK_SIZE, KEY_SIZE, blocks_nostack, chacha20_blocks};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn key(bytes: &[u8]) -> [u8; KEY_SIZE] {
    bytes.try_into().expect("a 32-byte key")
}

/// `n` blocks from block `counter` on, and the counter afterwards.
fn blocks(key: &[u8; KEY_SIZE], counter: u64, n: usize) -> (Vec<u8>, u64) {
    let mut out = vec![0u8; n * BLOCK_SIZE];
    let mut c = counter;
    chacha20_blocks(key, &mut c, &mut out);
    (out, c)
}

/// The oracle: RustCrypto's ChaCha20 with a 64-bit nonce of 0, from block
/// `counter` on, the counter wrapping at 2^64 as the block function's
/// does. RustCrypto refuses the keystream's last block (2^64 - 1), which
/// [`scalar_block`] gives instead.
fn oracle(key: &[u8; KEY_SIZE], counter: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * BLOCK_SIZE];
    for (i, block) in out.chunks_mut(BLOCK_SIZE).enumerate() {
        let at = counter.wrapping_add(i as u64);
        if at == u64::MAX {
            block.copy_from_slice(&scalar_block(key, at));
            continue;
        }
        let mut cipher = ChaCha20Legacy::new(key.into(), &[0u8; 8].into());
        cipher.seek(u128::from(at) * BLOCK_SIZE as u128);
        cipher.apply_keystream(block);
    }
    out
}

/// One block as the specification writes it (RFC 7539 section 2.3, with
/// the DJB layout: words 12 and 13 the counter, 14 and 15 a zero nonce),
/// one word at a time.
fn scalar_block(key: &[u8; KEY_SIZE], counter: u64) -> [u8; BLOCK_SIZE] {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut input = [0u32; 16];
    input[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        input[4 + i] = word(&key[4 * i..]);
    }
    input[12] = counter as u32;
    input[13] = (counter >> 32) as u32;
    let mut x = input;
    let qr = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    };
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    let mut out = [0u8; BLOCK_SIZE];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(input[i]).to_le_bytes());
    }
    out
}

/// The two references agree where both apply, so the one the last block
/// rests on is as good as the other.
#[test]
fn the_references_agree() {
    let mut numbers = Numbers(11);
    for _ in 0..200 {
        let (k, counter) = (numbers.key(), numbers.next() >> 1);
        assert_eq!(scalar_block(&k, counter).to_vec(), oracle(&k, counter, 1));
    }
}

/// Published vectors with nonce 0, keystream from block 0:
/// draft-strombergson-chacha-test-vectors TC1 (also RFC 7539 A.1 #1 and
/// #2: with nonce 0 and a counter below 2^32 the variants agree) and TC2,
/// and draft-agl-tls-chacha20poly1305 section 7's second vector (60 bytes
/// as published).
#[test]
fn published_vectors() {
    let vectors = [
        (
            "TC1",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7
             da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586
             9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed
             29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f",
        ),
        (
            "TC2",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "c5d30a7ce1ec119378c84f487d775a8542f13ece238a9455e8229e888de85bbd
             29eb63d0a17a5b999b52da22be4023eb07620a54f6fa6ad8737b71eb0464dac0
             10f656e6d1fd55053e50c4875c9930a33f6d0263bd14dfd6ab8c70521c19338b
             2308b95cf8d0bb7d202d2102780ea3528f1cb48560f76b20f382b942500fceac",
        ),
        (
            "agl #1",
            "0000000000000000000000000000000000000000000000000000000000000001",
            "4540f05a9f1fb296d7736e7b208e3c96eb4fe1834688d2604f450952ed432d41
             bbe2a0b6ea7566d2a5d1e7e20d42af2c53d792b1c43fea817e9ad275",
        ),
    ];
    for (name, k, stream) in vectors {
        let expected = hex(stream);
        let n = expected.len().div_ceil(BLOCK_SIZE);
        let (out, counter) = blocks(&key(&hex(k)), 0, n);
        assert_eq!(&out[..expected.len()], &expected[..], "{name}");
        assert_eq!(counter, n as u64, "{name}: the counter");
    }
}

/// The counter is 64 bits, words 12 and 13: block 2^32 follows 2^32 - 1
/// (the IETF variant would carry into the nonce instead), and the counter
/// wraps at 2^64. Blocks computed, not published: the kernel's assembly,
/// RustCrypto's `chacha20` 0.10.2 and a C reference agreed on them.
#[test]
fn the_counter_carries_into_its_high_word() {
    let k: [u8; KEY_SIZE] = core::array::from_fn(|i| i as u8);
    let expected = hex(
        "d48429333adfee3b03055736a276ab9c8f4ff95fd1a11f55ddac6646659efc9c
         e307a19ec9c13d1d1f00aeab36ccc8509b69fec862f512b3decc782129207391
         1ce0deb8925fccea2d5587e850054559edcbbeb1a6c8e1c02c1e89abba08b01c
         ad6048fe5ab5242ed6befbef6b4040fcb666a5f3858d942a912c4e8800301a42
         d838fb09536e2e3a10e8f23f486273a69f42d8e640d781ede384793c34c32564
         fc4361e5d5c5b620583b0528192f4c6109f23a0e14398ee6537cdcf2cd610ea2",
    );
    let (out, counter) = blocks(&k, 0xffff_fffe, 3);
    assert_eq!(out, expected);
    assert_eq!(counter, 0x1_0000_0001);
    let (_, counter) = blocks(&k, u64::MAX - 1, 4);
    assert_eq!(counter, 2, "the counter wraps at 2^64");
    assert_eq!(blocks(&k, u64::MAX, 1).0, oracle(&k, u64::MAX, 1));
}

/// SplitMix64: reproducible keys and counters without a dependency.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn key(&mut self) -> [u8; KEY_SIZE] {
        let words: [u64; 4] = core::array::from_fn(|_| self.next());
        core::array::from_fn(|i| words[i / 8].to_le_bytes()[i % 8])
    }
}

#[test]
fn agrees_with_rustcrypto_over_random_keys() {
    let mut numbers = Numbers(0x6765_7472_616e_646f);
    for i in 0..4000 {
        let k = numbers.key();
        // Anywhere, and often just below a word boundary of the counter.
        let r = numbers.next();
        let counter = match i % 4 {
            0 => r,
            1 => 0xffff_ffff - (r % 4),
            2 => u64::MAX - (r % 4),
            _ => r % 16,
        };
        let n = 1 + (numbers.next() % 5) as usize;
        let (out, after) = blocks(&k, counter, n);
        assert_eq!(
            out,
            oracle(&k, counter, n),
            "key {k:02x?}, counter {counter:#x}, {n} blocks"
        );
        assert_eq!(after, counter.wrapping_add(n as u64));
    }
}

/// The refill writes two blocks over the batch and the key it reads: the
/// key is read before anything is stored.
#[test]
fn blocks_may_overwrite_their_own_key() {
    let mut numbers = Numbers(7);
    for _ in 0..100 {
        let k = numbers.key();
        // The state's first 128 bytes: the batch, then the key.
        let mut state = [0u8; 2 * BLOCK_SIZE];
        state[96..].copy_from_slice(&k);
        let mut counter = 5u64;
        let at = state.as_mut_ptr();
        // SAFETY: two blocks of room at `at`, the key inside them (which
        // the function allows), a counter of ours.
        unsafe { blocks_nostack(at, at.add(96).cast(), &mut counter, 2) };
        assert_eq!(state.to_vec(), oracle(&k, 5, 2));
        assert_eq!(counter, 7);
    }
}

/// The function clears every vector register it wrote (`xmm0` to
/// `xmm8`), leaves the others as they were, and of the registers a C call
/// may clobber writes only rax, rcx and rdi: what the images' call of it
/// declares (`arch::chacha20_blocks`), so the caller keeps values in the
/// others across it.
#[test]
fn registers_after_a_call_are_as_the_caller_was_promised() {
    use core::arch::x86_64::__m128i;
    let k = Numbers(3).key();
    let mut out = [0u8; 3 * BLOCK_SIZE];
    let mut counter = 9u64;
    let fill = 0xa5a5_a5a5_a5a5_a5a5_a5a5_a5a5_a5a5_a5a5_u128;
    // SAFETY: u128 and __m128i are both 16 plain bytes.
    let pattern: __m128i = unsafe { core::mem::transmute(fill) };
    let mut regs = [pattern; 16];
    let [
        r0,
        r1,
        r2,
        r3,
        r4,
        r5,
        r6,
        r7,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
    ] = &mut regs;
    let (key, count) = (k.as_ptr(), &raw mut counter);
    let (mut rsi, mut rdx) = (key, count);
    let mut gprs = [0x5a5a_0008u64, 0x5a5a_0009, 0x5a5a_000a, 0x5a5a_000b];
    let [g8, g9, g10, g11] = &mut gprs;
    // SAFETY: calls the block function with three blocks of room, a key
    // and a counter of ours, declaring every register the C ABI lets it
    // clobber; the vector registers and r8 to r11 go in with patterns
    // and come out as the function left them.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = sym blocks_nostack,
            inout("rdi") out.as_mut_ptr() => _,
            inout("rsi") rsi,
            inout("rdx") rdx,
            inout("rcx") 3usize => _,
            out("rax") _,
            inout("r8") *g8, inout("r9") *g9, inout("r10") *g10, inout("r11") *g11,
            inout("xmm0") *r0, inout("xmm1") *r1, inout("xmm2") *r2, inout("xmm3") *r3,
            inout("xmm4") *r4, inout("xmm5") *r5, inout("xmm6") *r6, inout("xmm7") *r7,
            inout("xmm8") *r8, inout("xmm9") *r9, inout("xmm10") *r10, inout("xmm11") *r11,
            inout("xmm12") *r12, inout("xmm13") *r13, inout("xmm14") *r14, inout("xmm15") *r15,
        );
    }
    assert_eq!(out.to_vec(), oracle(&k, 9, 3), "the call itself");
    assert_eq!(counter, 12);
    assert_eq!((rsi, rdx), (key, count), "rsi and rdx after the call");
    assert_eq!(
        gprs,
        [0x5a5a_0008, 0x5a5a_0009, 0x5a5a_000a, 0x5a5a_000b],
        "r8 to r11 after the call"
    );
    // SAFETY: as above.
    let regs: [u128; 16] = unsafe { core::mem::transmute(regs) };
    for (i, r) in regs.iter().enumerate() {
        let expected = if i <= 8 { 0 } else { fill };
        assert_eq!(*r, expected, "xmm{i} after the call");
    }
}
