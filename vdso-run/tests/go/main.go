// The Go program of the --as-vdso tests. The Go runtime finds the vDSO
// itself, through AT_SYSINFO_EHDR and its own ELF lookup (vdso_linux.go),
// and calls it without libc. Each argument is a command, run in order:
//
//	clocks      CLOCK_MONOTONIC (runtime.nanotime) and CLOCK_REALTIME (time.Now), from the vDSO
//	image LEN   the first LEN bytes of the vDSO the runtime resolved clock_gettime in, hex
//	bracket     vDSO / system call / vDSO readings of MONOTONIC and REALTIME
//	sleep       time.Sleep(300 * time.Millisecond), measured with time.Since
//	auxv LEN    the vDSO as /proc/self/auxv names it (the way some Go code,
//	            golang.org/x/sys among it, finds it) against the one the
//	            runtime found through the auxiliary vector on its stack: both
//	            addresses, whether their first LEN bytes are the same, and
//	            whether the first page there holds a vdso-rs note
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// AT_SYSINFO_EHDR's value in /proc/self/auxv, or 0.
func procAuxvVdso() uintptr {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0
	}
	for i := 0; i+16 <= len(b); i += 16 {
		if binary.LittleEndian.Uint64(b[i:]) == 33 {
			return uintptr(binary.LittleEndian.Uint64(b[i+8:]))
		}
	}
	return 0
}

// The runtime's own clock and its own vDSO lookup. (stub.s lets the
// bodyless declaration compile.)
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

//go:linkname vdsoClockgettimeSym runtime.vdsoClockgettimeSym
var vdsoClockgettimeSym uintptr

func sysNow(clock int) int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func show(name string, ns int64) {
	fmt.Printf("%s %d.%09d\n", name, ns/1e9, ns%1e9)
}

func main() {
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "clocks":
			show("realtime", time.Now().UnixNano())
			show("monotonic", nanotime())
		case "image":
			i++
			n, _ := strconv.Atoi(args[i])
			if vdsoClockgettimeSym == 0 {
				fmt.Println("image none")
				continue
			}
			// __vdso_clock_gettime lies in the image's first page.
			base := vdsoClockgettimeSym &^ 0xfff
			b := unsafe.Slice((*byte)(unsafe.Pointer(base)), n)
			fmt.Printf("image %x\n", b)
		case "auxv":
			i++
			n, _ := strconv.Atoi(args[i])
			runtimeBase := vdsoClockgettimeSym &^ 0xfff
			procBase := procAuxvVdso()
			fmt.Printf("runtime_vdso %x\nproc_auxv %x\n", runtimeBase, procBase)
			if runtimeBase == 0 || procBase == 0 {
				continue
			}
			found := unsafe.Slice((*byte)(unsafe.Pointer(runtimeBase)), n)
			named := unsafe.Slice((*byte)(unsafe.Pointer(procBase)), n)
			fmt.Printf("auxv_same_bytes %t\n", bytes.Equal(found, named))
			page := unsafe.Slice((*byte)(unsafe.Pointer(procBase)), 4096)
			fmt.Printf("proc_auxv_vdso_rs_note %t\n", bytes.Contains(page, []byte("vdso-rs\x00")))
			fmt.Printf("proc_auxv_image %x\n", named)
		case "bracket":
			for r := 0; r < 20; r++ {
				a, k, b := nanotime(), sysNow(1), nanotime()
				fmt.Printf("bracket_monotonic_%d %d %d %d\n", r, a, k, b)
				a, k, b = time.Now().UnixNano(), sysNow(0), time.Now().UnixNano()
				fmt.Printf("bracket_realtime_%d %d %d %d\n", r, a, k, b)
			}
		case "sleep":
			start := time.Now()
			time.Sleep(300 * time.Millisecond)
			fmt.Printf("sleep_ms %d 0\n", time.Since(start).Milliseconds())
		default:
			fmt.Fprintf(os.Stderr, "unknown command %s\n", args[i])
			os.Exit(2)
		}
	}
}
