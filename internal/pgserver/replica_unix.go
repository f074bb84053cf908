//go:build unix

package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// StartReplica starts a streaming replica (hot standby) of s, for the
// benchmark suite's replica reads: pg_basebackup -R copies s's cluster into
// a new temporary directory, then postgres starts on it on a free port with
// s's settings and hot_standby on. Stop it with [Server.Stop], which removes
// its directory.
func (s *Server) StartReplica(ctx context.Context, settings map[string]string) (*Server, error) {
	dataDir, err := os.MkdirTemp("", "tvsync-replica-*")
	if err != nil {
		return nil, fmt.Errorf("pgserver: create replica data directory: %w", err)
	}
	r := &Server{dataDir: dataDir, logPath: filepath.Join(dataDir, logFileName), logger: s.logger, binDir: s.binDir, cred: s.cred}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dataDir)
		}
	}()
	if r.cred != nil {
		if err := os.Chown(dataDir, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgserver: chown replica data directory %s to user %q: %w", dataDir, osUser, err)
		}
	}
	bin := filepath.Join(s.binDir, "pg_basebackup")
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", strconv.Itoa(s.port), "-U", superuser,
		"-D", dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	var out bytes.Buffer
	cmd.Dir, cmd.Stdout, cmd.Stderr = dataDir, &out, &out
	cmd.SysProcAttr = procAttr(r.cred, false)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pgserver: %s from port %d: %w\n%s", bin, s.port, err, strings.TrimSpace(out.String()))
	}
	_ = os.Remove(r.logPath) // the primary's log came along in the copy
	all := map[string]string{"hot_standby": "on", "hot_standby_feedback": "on"}
	for k, v := range settings {
		all[k] = v
	}
	args := serverArgs(dataDir, all)
	for attempt := 1; ; attempt++ {
		err := r.start(ctx, r.binDir, args, r.cred)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return nil, err
		}
	}
	ok = true
	s.logger.Info("pgserver: replica started", "url", r.URL("postgres"), "primary_port", s.port)
	return r, nil
}
