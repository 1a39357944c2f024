//go:build !linux

package testenv

import (
	"errors"
	"runtime"
	"syscall"
)

// Samba AD, the only server that needs these, runs on Linux only.

func groupProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pgid int, sig syscall.Signal) {}

func groupAlive(pgid int) bool { return false }

func lockFile(path string, wait bool) (release func(), ok bool, err error) {
	return nil, false, errors.New("testenv: file locks are not implemented on " + runtime.GOOS)
}
