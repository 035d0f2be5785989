// Command getrandom reads random bytes as Go programs do (crypto/rand, 16
// bytes at a time, on several threads) under a seccomp filter it puts on
// itself first: the getrandom system call is allowed only as a key fetch,
// getrandom(buf, 32, 0), which is what a vDSO's getrandom makes (once per
// thread's state, and again after each reseed of the kernel's generator);
// any other getrandom call kills the process with SIGSYS. So it runs to
// the end, and prints "ok", only if its random bytes come from a vDSO's
// getrandom. Go 1.24+ finds __vdso_getrandom@LINUX_2.6 itself and falls
// back to the system call without it.
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

const (
	sysSeccomp          = 317
	sysGetrandom        = 318
	prSetNoNewPrivs     = 38
	setModeFilter       = 1
	filterFlagTsync     = 1
	retKillProcess      = 0x80000000
	retAllow            = 0x7fff0000
	auditArchX86_64     = 0xc000003e
	bpfLdWAbs           = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK             = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfRetK             = 0x06 // BPF_RET | BPF_K
	readers             = 4
	readsPerReader      = 2000
	bytesPerRead        = 16
	keyFetchLength      = 32
	seccompDataArch     = 4
	seccompDataNr       = 0
	seccompDataArg1Low  = 24 // args[1], the length
	seccompDataArg1High = 28
	seccompDataArg2Low  = 32 // args[2], the flags (an unsigned int)
)

type sockFilter struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

// restrictGetrandom installs the filter on every thread of the process
// (TSYNC) and on the threads to come.
func restrictGetrandom() error {
	// Jumps count the instructions skipped; KILL is at 10, ALLOW at 11.
	program := []sockFilter{
		{bpfLdWAbs, 0, 0, seccompDataArch},
		{bpfJeqK, 0, 8, auditArchX86_64},
		{bpfLdWAbs, 0, 0, seccompDataNr},
		{bpfJeqK, 0, 7, sysGetrandom}, // other calls: allowed
		{bpfLdWAbs, 0, 0, seccompDataArg1Low},
		{bpfJeqK, 0, 4, keyFetchLength},
		{bpfLdWAbs, 0, 0, seccompDataArg1High},
		{bpfJeqK, 0, 2, 0},
		{bpfLdWAbs, 0, 0, seccompDataArg2Low},
		{bpfJeqK, 1, 0, 0},
		{bpfRetK, 0, 0, retKillProcess},
		{bpfRetK, 0, 0, retAllow},
	}
	prog := sockFprog{len: uint16(len(program)), filter: &program[0]}
	// The two calls on one thread: no_new_privs is per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %v", e)
	}
	r, _, e := syscall.RawSyscall(sysSeccomp, setModeFilter, filterFlagTsync, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(program)
	if e != 0 || r != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, TSYNC): %v (thread %d)", e, r)
	}
	return nil
}

func main() {
	if err := restrictGetrandom(); err != nil {
		fmt.Fprintln(os.Stderr, "getrandom:", err)
		os.Exit(2)
	}
	// Each reader on a thread of its own, all at once: Go gives each
	// thread (M) a state of its own, which fetches its own key (a state
	// outlives its thread and goes to the next one).
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	heads := make([][]uint64, readers)
	for r := range readers {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			ready.Done()
			<-start
			buf := make([]byte, bytesPerRead)
			for range readsPerReader {
				rand.Read(buf)
				head := uint64(0)
				for _, b := range buf[:8] {
					head = head<<8 | uint64(b)
				}
				heads[r] = append(heads[r], head)
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	seen := make(map[uint64]bool)
	for _, hs := range heads {
		for _, h := range hs {
			if seen[h] {
				fmt.Fprintln(os.Stderr, "getrandom: two reads began with the same 8 bytes")
				os.Exit(1)
			}
			seen[h] = true
		}
	}
	fmt.Printf("ok: %d reads of %d bytes on %d threads\n", readers*readsPerReader, bytesPerRead, readers)
}
