//go:build unix

package syncdbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errMissingPgBouncer is returned when no pgbouncer binary is found.
var errMissingPgBouncer = errors.New(
	"pgbouncer not found: install the pgbouncer package (apt-get install pgbouncer)")

// PgBouncerOptions configures [StartPgBouncer]. The zero value pools in
// transaction mode with four server connections per database and user.
type PgBouncerOptions struct {
	// PoolMode is pgbouncer's pool_mode: "transaction" when empty, or
	// "session" or "statement".
	PoolMode string
	// PoolSize is default_pool_size, the server connections per database and
	// user; zero means 4.
	PoolSize int
	// MaxClients is max_client_conn; zero means 500.
	MaxClients int
}

// PgBouncer is a running pgbouncer started by [StartPgBouncer] in front of
// one PostgreSQL server. Its methods are safe for concurrent use.
type PgBouncer struct {
	port    int
	dir     string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	// exitErr is cmd.Wait's result; read it only after exited is closed.
	exitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartPgBouncer starts pgbouncer (Debian's pgbouncer package, found on
// PATH or as /usr/sbin/pgbouncer) on a free port of 127.0.0.1 in front of
// the PostgreSQL server at host:port. Every database of that server is
// reachable through it under its own name, as the trusted user "postgres"
// (auth_type any: any user name and password are accepted and the server
// is logged into as "postgres"). It returns once pgbouncer accepts
// connections; call [PgBouncer.Stop] to end it. As root it runs as the
// operating-system user "postgres" (pgbouncer refuses to run as root).
func StartPgBouncer(ctx context.Context, serverHost string, serverPort int, opts PgBouncerOptions) (*PgBouncer, error) {
	bin, err := findPgBouncer()
	if err != nil {
		return nil, err
	}
	if opts.PoolMode == "" {
		opts.PoolMode = "transaction"
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 500
	}
	cred, err := processCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tvsync-pgbouncer-*")
	if err != nil {
		return nil, fmt.Errorf("syncdbtest: create pgbouncer directory: %w", err)
	}
	b := &PgBouncer{dir: dir, logPath: filepath.Join(dir, "pgbouncer.log")}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("syncdbtest: chown pgbouncer directory %s to user %q: %w", dir, osUser, err)
		}
	}
	for attempt := 1; ; attempt++ {
		if b.port, err = freePort(); err != nil {
			return nil, err
		}
		err = b.start(ctx, bin, cred, serverHost, serverPort, opts)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return nil, err
		}
	}
	ok = true
	return b, nil
}

// start writes the configuration for b.port and starts pgbouncer.
func (b *PgBouncer) start(ctx context.Context, bin string, cred *syscall.Credential, serverHost string, serverPort int, opts PgBouncerOptions) error {
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d user=%s

[pgbouncer]
listen_addr = %s
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = %s
default_pool_size = %d
max_client_conn = %d
max_db_connections = 0
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
logfile = %s
pidfile = %s
`, serverHost, serverPort, superuser, host, b.port, opts.PoolMode, opts.PoolSize, opts.MaxClients,
		b.logPath, filepath.Join(b.dir, "pgbouncer.pid"))
	iniPath := filepath.Join(b.dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o644); err != nil {
		return fmt.Errorf("syncdbtest: write %s: %w", iniPath, err)
	}
	cmd := exec.Command(bin, "-q", iniPath)
	cmd.Dir = b.dir
	cmd.SysProcAttr = procAttr(cred, true)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("syncdbtest: start %s: %w", bin, err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	go func() {
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitReady(ctx); err != nil {
		select {
		case <-b.exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-b.exited
		}
		logText, _ := os.ReadFile(b.logPath)
		if strings.Contains(string(logText), "Address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("syncdbtest: start pgbouncer on port %d: %w\npgbouncer log (%s):\n%s", b.port, err, b.logPath, logText)
	}
	return nil
}

// waitReady polls pgbouncer until a query through it succeeds.
func (b *PgBouncer) waitReady(ctx context.Context) error {
	return waitAccepting(ctx, b.URL("postgres"), "pgbouncer", true, b.exited, func() error { return b.exitErr })
}

// URL returns the URL of database db through pgbouncer, as user "postgres",
// with pgx's default_query_exec_mode=cache_describe: pgx then never
// prepares a named statement, which a transaction pooler would hand to
// another client's session (pgbouncer before 1.21 does not track them).
func (b *PgBouncer) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort(host, strconv.Itoa(b.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable&default_query_exec_mode=cache_describe",
	}
	return u.String()
}

// Port returns the TCP port pgbouncer listens on.
func (b *PgBouncer) Port() int { return b.port }

// Stop ends pgbouncer (SIGINT, then SIGKILL after about 10 seconds) and
// removes its files. It is idempotent.
func (b *PgBouncer) Stop() error {
	b.stopOnce.Do(func() {
		select {
		case <-b.exited:
		default:
			if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
				b.stopErr = fmt.Errorf("syncdbtest: send SIGINT to pgbouncer: %w", err)
			}
			select {
			case <-b.exited:
			case <-time.After(stopTimeout):
				_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
				<-b.exited
			}
		}
		if err := os.RemoveAll(b.dir); err != nil {
			b.stopErr = errors.Join(b.stopErr, fmt.Errorf("syncdbtest: remove pgbouncer directory: %w", err))
		}
	})
	return b.stopErr
}

// findPgBouncer returns the path of the pgbouncer binary.
func findPgBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errMissingPgBouncer
}
