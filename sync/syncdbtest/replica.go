//go:build unix

package syncdbtest

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

// StartReplica starts a streaming replica (a hot standby) of the running
// server primary: pg_basebackup -R copies primary's cluster into a new
// temporary directory (owned by the operating-system user "postgres" when
// running as root) and writes the standby's connection to primary, then a
// postgres of the same binaries starts on it, on a free port of 127.0.0.1,
// with hot_standby on. It returns once the replica accepts (read-only)
// connections. Every database of primary, and every one created later, is
// on the replica; a write to primary is visible there once the replica has
// replayed it (pg_last_wal_replay_lsn()). Stop it with [Server.Stop];
// pause its replay with "SELECT pg_wal_replay_pause()" on it.
//
// The throwaway server's defaults (wal_level replica, ten WAL senders,
// replication connections from 127.0.0.1 trusted) are what this needs.
func StartReplica(ctx context.Context, primary *Server, opts ServerOptions) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = primary.logger
	}
	for name := range opts.Settings {
		if name == "" || reservedSettings[strings.ToLower(name)] {
			return nil, fmt.Errorf("syncdbtest: setting %q cannot be set through ServerOptions.Settings", name)
		}
	}
	dataDir, err := os.MkdirTemp("", "tvsync-replica-*")
	if err != nil {
		return nil, fmt.Errorf("syncdbtest: create replica data directory: %w", err)
	}
	s := &Server{dataDir: dataDir, logPath: filepath.Join(dataDir, logFileName), logger: logger, binDir: primary.binDir, cred: primary.cred}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dataDir)
		}
	}()
	if s.cred != nil {
		if err := os.Chown(dataDir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("syncdbtest: chown replica data directory %s to user %q: %w", dataDir, osUser, err)
		}
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("syncdbtest: chmod replica data directory %s: %w", dataDir, err)
	}
	bin := filepath.Join(s.binDir, "pg_basebackup")
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", strconv.Itoa(primary.Port()), "-U", superuser,
		"-D", dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	var out bytes.Buffer
	cmd.Dir = dataDir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = procAttr(s.cred, false)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("syncdbtest: %s from port %d: %w\n%s", bin, primary.Port(), err, strings.TrimSpace(out.String()))
	}
	// The primary's log came along in the copy: start the replica's afresh.
	_ = os.Remove(s.logPath)

	settings := map[string]string{"hot_standby": "on", "hot_standby_feedback": "on"}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	s.args = serverArgs(dataDir, settings)
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return nil, err
		}
	}
	ok = true
	logger.Info("syncdbtest: replica started", "url", s.URL("postgres"), "primary_port", primary.Port(), "dir", dataDir)
	return s, nil
}
