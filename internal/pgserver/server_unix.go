//go:build unix

package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// host is the only address the server listens on.
	host = "127.0.0.1"
	// superuser is the bootstrap superuser created by initdb.
	superuser = "postgres"
	// osUser is the operating-system account used when running as root.
	osUser = "postgres"
	// logFileName is the server's stderr log, inside the data directory.
	logFileName = "postgres.log"

	readyTimeout  = 30 * time.Second
	stopTimeout   = 10 * time.Second
	startAttempts = 3
	logTailBytes  = 4 << 10
)

// defaultSettings are the -c settings every server starts with; they trade
// durability for speed, the right trade for a throwaway cluster.
var defaultSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "200",
	"shared_buffers":     "128MB",
}

// reservedSettings are managed by Start: the Server's URLs depend on them.
var reservedSettings = map[string]bool{"port": true, "listen_addresses": true, "unix_socket_directories": true}

// errAddrInUse marks a start attempt that failed because another process
// took the chosen port between freePort and postgres binding it.
var errAddrInUse = errors.New("address already in use")

// Server is a running throwaway PostgreSQL cluster started by [Start].
type Server struct {
	port    int
	dataDir string
	keep    bool // dataDir is Options.DataDir: Stop leaves it in place
	logPath string
	logger  *slog.Logger
	// binDir and cred are how postgres runs, kept for StartReplica.
	binDir string
	cred   *syscall.Credential

	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	exitErr error         // cmd.Wait's result; read it only after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start initialises a new cluster in a temporary directory (or reuses the
// one in Options.DataDir), starts postgres on a free port of 127.0.0.1 and
// returns once it accepts connections. The caller must call [Server.Stop].
// When the calling process runs as root, initdb and postgres (which refuse
// to run as root) run as the operating-system user "postgres", from a data
// directory that user owns. On Linux the server is killed if the calling
// process dies. Cancelling ctx abandons the start.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for name := range opts.Settings {
		if name == "" || reservedSettings[strings.ToLower(name)] {
			return nil, fmt.Errorf("pgserver: setting %q cannot be set through Options.Settings", name)
		}
	}
	begin := time.Now()
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := processCredential()
	if err != nil {
		return nil, err
	}
	dataDir, keep, err := makeDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{dataDir: dataDir, keep: keep, logPath: filepath.Join(dataDir, logFileName), logger: logger, binDir: binDir, cred: cred}
	ok := false
	defer func() {
		if !ok && !keep {
			_ = os.RemoveAll(dataDir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgserver: chown data directory %s to user %q: %w", dataDir, osUser, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); keep && err == nil {
		logger.Info("pgserver: reusing the cluster", "dir", dataDir)
	} else if err := initdb(ctx, binDir, dataDir, cred); err != nil {
		return nil, err
	}
	args := serverArgs(dataDir, opts.Settings)
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, binDir, args, cred)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return nil, err
		}
	}
	ok = true
	logger.Info("pgserver: started", "url", s.URL("postgres"), "dir", dataDir, "elapsed", time.Since(begin))
	return s, nil
}

// URL returns a connection URL for database db as the trusted superuser
// "postgres", for example "postgres://postgres@127.0.0.1:5432/db?sslmode=disable".
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Host: net.JoinHostPort(host, strconv.Itoa(s.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the server down with a fast shutdown (SIGINT), kills it and
// its backends with SIGKILL if it has not exited after about 10 seconds,
// and removes its data directory (but not an Options.DataDir). Later calls
// return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	pid := s.cmd.Process.Pid
	select {
	case <-s.exited:
		s.logger.Warn("pgserver: server had already exited", "pid", pid, "err", s.exitErr, "log", s.logTail())
	default:
		if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("pgserver: send SIGINT to postgres (pid %d): %w", pid, err))
		}
		timer := time.NewTimer(stopTimeout)
		select {
		case <-s.exited:
			timer.Stop()
		case <-timer.C:
			s.logger.Warn("pgserver: fast shutdown timed out, killing", "pid", pid, "timeout", stopTimeout)
			if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("pgserver: send SIGKILL to postgres (pid %d): %w", pid, err))
			}
			<-s.exited
		}
	}
	if !s.keep {
		if err := os.RemoveAll(s.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("pgserver: remove data directory %s: %w", s.dataDir, err))
		}
	}
	s.logger.Info("pgserver: stopped", "port", s.port, "dir", s.dataDir)
	return errors.Join(errs...)
}

// start launches postgres on a free port and waits until it accepts
// connections. On failure the process has exited or been killed.
func (s *Server) start(ctx context.Context, binDir string, args []string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: open server log %s: %w", s.logPath, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	if cred != nil {
		// The server itself must read it: pg_basebackup (StartReplica)
		// copies every file of the data directory through the server.
		if err := os.Chown(s.logPath, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgserver: chown server log %s: %w", s.logPath, err)
		}
	}

	bin := filepath.Join(binDir, "postgres")
	cmd := exec.Command(bin, append([]string{"-p", strconv.Itoa(port)}, args...)...)
	cmd.Dir = s.dataDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr(cred, true) // a process group of its own, so a kill reaches its backends
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgserver: start %s: %w", bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		tail := s.logTail()
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("pgserver: start postgres on port %d: %w\nserver log (%s):\n%s", port, err, s.logPath, tail)
	}
	return nil
}

// waitReady polls the server until a connection succeeds, the server
// exits, ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("parse connection URL: %w", err)
	}
	cfg.ConnectTimeout = time.Second
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited before accepting connections: %v", s.exitErr)
		default:
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last connection error: %v)", ctx.Err(), err)
		case <-s.exited:
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// logTail returns the last few KiB of the server log.
func (s *Server) logTail() string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	return strings.TrimSpace(string(b))
}

// makeDataDir returns the cluster directory: dir made absolute and created
// when it is set (keep), else a new temporary directory.
func makeDataDir(dir string) (path string, keep bool, err error) {
	if dir == "" {
		if path, err = os.MkdirTemp("", "tvsync-pg-*"); err != nil {
			return "", false, fmt.Errorf("pgserver: create data directory: %w", err)
		}
		return path, false, nil
	}
	if path, err = filepath.Abs(dir); err != nil {
		return "", true, fmt.Errorf("pgserver: data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return "", true, fmt.Errorf("pgserver: create data directory %s: %w", path, err)
	}
	return path, true, nil
}

// serverArgs returns postgres's arguments except -p.
func serverArgs(dataDir string, extra map[string]string) []string {
	settings := make(map[string]string, len(defaultSettings)+len(extra))
	for k, v := range defaultSettings {
		settings[k] = v
	}
	for k, v := range extra {
		settings[k] = v
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	args := []string{"-D", dataDir, "-k", dataDir, "-c", "listen_addresses=" + host}
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

// initdb creates the cluster in the (empty) dataDir.
func initdb(ctx context.Context, binDir, dataDir string, cred *syscall.Credential) error {
	bin := filepath.Join(binDir, "initdb")
	cmd := exec.CommandContext(ctx, bin, "-D", dataDir, "-U", superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	var out bytes.Buffer
	cmd.Dir = dataDir // the server user may not be able to enter our working directory
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = procAttr(cred, false)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgserver: %s -D %s: %w\n%s", bin, dataDir, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// processCredential returns the credential to run initdb and postgres with:
// nil (the current user) normally, the "postgres" OS user when root.
func processCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root, and PostgreSQL refuses to run as root: "+
			"need OS user %q to run the server as (install the postgresql package): %w", osUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: parse uid %q of user %q: %w", u.Uid, osUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: parse gid %q of user %q: %w", u.Gid, osUser, err)
	}
	// An empty Groups list drops root's supplementary groups.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// findBinDir locates the directory holding initdb and postgres: pg_config's
// bindir if it has them, else the highest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1.0
	for _, dir := range dirs {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil || v <= bestVersion || !hasServerBinaries(dir) {
			continue
		}
		best, bestVersion = dir, v
	}
	if best == "" {
		return "", errors.New("pgserver: PostgreSQL server binaries not found: install the postgresql package (apt-get install postgresql)")
	}
	return best, nil
}

// hasServerBinaries reports whether dir contains executable initdb and postgres.
func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgserver: find a free port on %s: %w", host, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgserver: release port %d: %w", port, err)
	}
	return port, nil
}
