package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SelfCPU is the user and system CPU time of this process so far, for
// benchmarks that report CPU per operation.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("testenv: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// ProcessCPU is the user and system CPU time of process pid so far (a
// server the harness started), from /proc/<pid>/stat on Linux, in clock
// ticks of 10 ms.
func ProcessCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("testenv: process cpu: %w", err)
	}
	// The fields after the command name (which may hold spaces and
	// parentheses): utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("testenv: process cpu: %d fields in /proc/%d/stat", len(f), pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("testenv: process cpu: utime %q, stime %q", f[11], f[12])
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}
