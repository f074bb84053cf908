//go:build unix

package syncdbtest

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

// errMissingBinaries is returned when no PostgreSQL server installation is found.
var errMissingBinaries = errors.New(
	"PostgreSQL server binaries not found: install the postgresql package (apt-get install postgresql)")

// defaultSettings are the -c settings every server starts with; they trade
// durability for speed, which is the right trade for a throwaway cluster.
var defaultSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "200",
	"shared_buffers":     "128MB",
}

// reservedSettings are managed by Start and cannot be overridden by
// [ServerOptions.Settings], because the Server's URLs depend on them.
var reservedSettings = map[string]bool{
	"port":                    true,
	"listen_addresses":        true,
	"unix_socket_directories": true,
}

// Server is a running throwaway PostgreSQL cluster started by [Start].
// Its methods are safe for concurrent use.
type Server struct {
	port    int
	dataDir string
	keep    bool // dataDir is ServerOptions.DataDir: Stop leaves it in place
	logPath string
	logger  *slog.Logger
	// binDir, args and cred are how postgres is started, kept for Restart.
	binDir string
	args   []string
	cred   *syscall.Credential

	// mu serializes Restart and Stop, which replace or end the process.
	mu      sync.Mutex
	stopped bool

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	// exitErr is cmd.Wait's result; read it only after exited is closed.
	exitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start initialises a new cluster in a temporary directory, starts postgres
// on a free port of 127.0.0.1 and returns once it accepts connections. The
// caller must call [Server.Stop] to shut the server down and delete its files.
// When the calling process runs as root, initdb and postgres (which refuse to
// run as root) run as the operating-system user "postgres", from a data
// directory that user owns.
//
// On Linux the server is killed automatically if the calling process dies.
func Start(ctx context.Context, opts ServerOptions) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for name := range opts.Settings {
		if name == "" || reservedSettings[strings.ToLower(name)] {
			return nil, fmt.Errorf("syncdbtest: setting %q cannot be set through ServerOptions.Settings", name)
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
			if err := os.RemoveAll(dataDir); err != nil {
				logger.Warn("syncdbtest: remove data directory", "dir", dataDir, "err", err)
			}
		}
	}()
	if cred != nil {
		if err := os.Chown(dataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("syncdbtest: chown data directory %s to user %q: %w", dataDir, osUser, err)
		}
	}

	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); keep && err == nil {
		logger.Info("syncdbtest: reusing the cluster", "dir", dataDir)
	} else {
		if err := initdb(ctx, binDir, dataDir, cred); err != nil {
			return nil, err
		}
		logger.Debug("syncdbtest: cluster initialised", "dir", dataDir, "bindir", binDir, "elapsed", time.Since(begin))
	}

	s.args = serverArgs(dataDir, opts.Settings)
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return nil, err
		}
		logger.Debug("syncdbtest: port taken, retrying", "port", s.port, "attempt", attempt)
	}

	ok = true
	logger.Info("syncdbtest: started", "url", s.URL("postgres"), "dir", dataDir, "elapsed", time.Since(begin))
	return s, nil
}

// URL returns a connection URL for database db as the trusted superuser
// "postgres", for example "postgres://postgres@127.0.0.1:5432/db?sslmode=disable".
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort(host, strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Host returns the address the server listens on, always "127.0.0.1".
func (s *Server) Host() string { return host }

// Stop shuts the server down with a fast shutdown (SIGINT), kills it with
// SIGKILL if it has not exited after about 10 seconds, and removes its data
// directory (but not an ServerOptions.DataDir). It is idempotent: later calls
// return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	var errs []error
	if s.cmd != nil {
		pid := s.cmd.Process.Pid
		select {
		case <-s.exited:
			s.logger.Warn("syncdbtest: server had already exited", "pid", pid, "err", s.exitErr, "log", s.logTail())
		default:
			if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("syncdbtest: send SIGINT to postgres (pid %d): %w", pid, err))
			}
			timer := time.NewTimer(stopTimeout)
			select {
			case <-s.exited:
				timer.Stop()
			case <-timer.C:
				s.logger.Warn("syncdbtest: fast shutdown timed out, killing", "pid", pid, "timeout", stopTimeout)
				// Setpgid made postgres a process-group leader: kill its
				// backends too so none keeps the data directory busy.
				if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("syncdbtest: send SIGKILL to postgres (pid %d): %w", pid, err))
				}
				<-s.exited
			}
		}
	}
	if !s.keep {
		if err := os.RemoveAll(s.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("syncdbtest: remove data directory %s: %w", s.dataDir, err))
		}
	}
	s.logger.Info("syncdbtest: stopped", "port", s.port, "dir", s.dataDir)
	return errors.Join(errs...)
}

// makeDataDir returns the cluster directory: dir made absolute and created
// when it is set (keep), else a new temporary directory.
func makeDataDir(dir string) (path string, keep bool, err error) {
	if dir == "" {
		path, err = os.MkdirTemp("", "tvsync-pg-*")
		if err != nil {
			return "", false, fmt.Errorf("syncdbtest: create data directory: %w", err)
		}
		return path, false, nil
	}
	if path, err = filepath.Abs(dir); err != nil {
		return "", true, fmt.Errorf("syncdbtest: data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return "", true, fmt.Errorf("syncdbtest: create data directory %s: %w", path, err)
	}
	return path, true, nil
}

// errAddrInUse marks a start attempt that failed because another process
// took the chosen port between freePort and postgres binding it.
var errAddrInUse = errors.New("address already in use")

// Restart stops the server with an immediate shutdown, as `pg_ctl restart
// -m immediate` does (SIGQUIT: every backend ends at once, nothing is
// checkpointed, as in a crash), and starts it again on the same port and
// data directory, where it runs crash recovery. It returns once the server
// accepts connections again, or the error of the new start. Connections
// open before the restart are broken; clients must reconnect. Restart after
// Stop is an error.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("syncdbtest: restart of a stopped server")
	}
	pid := s.cmd.Process.Pid
	select {
	case <-s.exited:
		s.logger.Warn("syncdbtest: server had exited before the restart", "pid", pid, "err", s.exitErr)
	default:
		if err := s.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("syncdbtest: send SIGQUIT to postgres (pid %d): %w", pid, err)
		}
		timer := time.NewTimer(stopTimeout)
		select {
		case <-s.exited:
			timer.Stop()
		case <-timer.C:
			s.logger.Warn("syncdbtest: immediate shutdown timed out, killing", "pid", pid, "timeout", stopTimeout)
			if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("syncdbtest: send SIGKILL to postgres (pid %d): %w", pid, err)
			}
			<-s.exited
		case <-ctx.Done():
			return fmt.Errorf("syncdbtest: restart: %w", ctx.Err())
		}
	}
	if err := s.start(ctx, s.port); err != nil {
		return fmt.Errorf("syncdbtest: restart: %w", err)
	}
	s.logger.Info("syncdbtest: restarted", "url", s.URL("postgres"))
	return nil
}

// start launches postgres on port (a fresh free port when zero) and waits
// until it accepts connections. On failure the process has exited or been
// killed.
func (s *Server) start(ctx context.Context, port int) error {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	s.port = port
	binDir, args, cred := s.binDir, s.args, s.cred

	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("syncdbtest: open server log %s: %w", s.logPath, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	if cred != nil {
		// The server itself must read it: pg_basebackup (StartReplica) copies
		// every file of the data directory through the server.
		if err := os.Chown(s.logPath, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("syncdbtest: chown server log %s: %w", s.logPath, err)
		}
	}

	bin := filepath.Join(binDir, "postgres")
	cmd := exec.Command(bin, append([]string{"-p", strconv.Itoa(port)}, args...)...)
	cmd.Dir = s.dataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A process group of its own, so a kill reaches its backends too.
	cmd.SysProcAttr = procAttr(cred, true)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("syncdbtest: start %s: %w", bin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
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
		return fmt.Errorf("syncdbtest: start postgres on port %d: %w\nserver log (%s):\n%s", port, err, s.logPath, tail)
	}
	return nil
}

// waitReady polls the server with pgx until a connection succeeds, the
// server exits, ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	return waitAccepting(ctx, s.URL("postgres"), "postgres", false, s.exited, func() error { return s.exitErr })
}

// waitAccepting polls url until a connection succeeds (and, with query, a
// SELECT 1 through it), the process named what exits (exited closes, then
// exitErr says why), ctx ends or readyTimeout passes.
func waitAccepting(ctx context.Context, url, what string, query bool, exited <-chan struct{}, exitErr func() error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse connection URL: %w", err)
	}
	cfg.ConnectTimeout = time.Second

	var lastErr error
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before accepting connections: %v", what, exitErr())
		default:
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if query {
				_, err = conn.Exec(ctx, "SELECT 1")
			}
			cerr := conn.Close(ctx)
			if err == nil {
				return cerr
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last connection error: %v)", what, ctx.Err(), lastErr)
		case <-exited:
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
	cmd := exec.CommandContext(ctx, bin,
		"-D", dataDir, "-U", superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	var out bytes.Buffer
	cmd.Dir = dataDir // the server user may not be able to enter our working directory
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = procAttr(cred, false)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("syncdbtest: %s -D %s: %w\n%s", bin, dataDir, err, strings.TrimSpace(out.String()))
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
		return nil, fmt.Errorf("syncdbtest: running as root, and PostgreSQL refuses to run as root: "+
			"need OS user %q to run the server as (install the postgresql package): %w", osUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("syncdbtest: parse uid %q of user %q: %w", u.Uid, osUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("syncdbtest: parse gid %q of user %q: %w", u.Gid, osUser, err)
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
	dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin")
	if err != nil {
		return "", fmt.Errorf("syncdbtest: search /usr/lib/postgresql: %w", err)
	}
	best, bestVersion := "", -1.0
	for _, dir := range dirs {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil || v <= bestVersion || !hasServerBinaries(dir) {
			continue
		}
		best, bestVersion = dir, v
	}
	if best == "" {
		return "", errMissingBinaries
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
		return 0, fmt.Errorf("syncdbtest: find a free port on %s: %w", host, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("syncdbtest: release port %d: %w", port, err)
	}
	return port, nil
}
