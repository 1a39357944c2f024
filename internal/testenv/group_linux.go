package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// groupProcAttr is sysProcAttr for a server that forks workers: it also
// puts the server into a new process group, whose id is the server's pid,
// so that stopping it can reach every worker.
func groupProcAttr() *syscall.SysProcAttr {
	a := sysProcAttr()
	a.Setpgid = true
	return a
}

// killGroup sends sig to every process in process group pgid.
func killGroup(pgid int, sig syscall.Signal) { _ = syscall.Kill(-pgid, sig) }

// groupAlive reports whether a process of group pgid is still running.
// Zombies do not count: orphaned workers are reaped by PID 1, which may
// take its time, and a zombie holds neither ports nor files.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	want := []byte(strconv.Itoa(pgid))
	for _, name := range stats {
		data, err := os.ReadFile(name)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(data[i+1:])
		if len(f) >= 3 && string(f[0]) != "Z" && bytes.Equal(f[2], want) {
			return true
		}
	}
	return false
}

// lockFile takes an exclusive flock on path, creating it, and returns its
// release. Without wait it returns ok false at once when another holder,
// in this process or another, has it.
func lockFile(path string, wait bool) (release func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil // closing releases the lock
}
