//go:build unix && !linux

package pgserver

import "syscall"

// procAttr returns how initdb and postgres are started: as cred (nil: the
// current user), in a process group of their own when setpgid is set.
// Outside Linux there is no parent-death signal: a server whose tool is
// killed outright keeps running until it is stopped by hand.
func procAttr(cred *syscall.Credential, setpgid bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: setpgid}
}
