package pgserver

import "syscall"

// procAttr returns how initdb and postgres are started: as cred (nil: the
// current user), in a process group of their own when setpgid is set, and
// killed if the thread that started them dies (Go does not retire ordinary
// threads, so in practice this tracks the calling process).
func procAttr(cred *syscall.Credential, setpgid bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: setpgid, Pdeathsig: syscall.SIGKILL}
}
