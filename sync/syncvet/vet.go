package syncvet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// ErrRulesFired is the error of [Vet] when sqlc vet ran its checks and at
// least one rule fired: sqlc exits with status 1 then, and its output names
// each query and rule (see [Parse]). The error Vet returns wraps both
// ErrRulesFired and sqlc's *exec.ExitError.
var ErrRulesFired = errors.New("sqlc vet: rules fired")

// Vet runs `sqlc -f config vet` and returns its output, standard output
// and standard error combined.
//
// sqlc is the command that runs sqlc: the program and the arguments before
// sqlc's own, as {"sqlc"} for the one on the PATH or
// {"go", "-C", "tools", "tool", "sqlc"} for the one pinned as a tool of a
// tools module (the first run of which compiles sqlc: minutes). The
// command runs in the current directory, with the environment of the
// process plus, for each sql entry of config that names a database, the
// variable its database.uri comes from set to databaseURL. Vet refuses a
// configuration whose database.uri is anything but an environment variable
// alone (`uri: ${VET_DATABASE_URL}`), or that names no database.
//
// Vet returns a nil error when sqlc vet passed: it exited with status 0,
// so no rule fired and every query was checked. When it exited with status
// 1 and its output names a rule that fired, the error wraps
// [ErrRulesFired]. Any other failure (sqlc did not start, the configuration
// or a query did not parse, sqlc could not connect, ctx ended, which kills
// the command) is an error naming the configuration and wrapping the cause.
func Vet(ctx context.Context, sqlc []string, config, databaseURL string) (string, error) {
	if len(sqlc) == 0 || sqlc[0] == "" {
		return "", errors.New("syncvet: no sqlc command")
	}
	if databaseURL == "" {
		return "", errors.New("syncvet: empty database URL")
	}
	c, err := readConfig(config)
	if err != nil {
		return "", err
	}
	vars, err := c.databaseEnv()
	if err != nil {
		return "", err
	}
	args := append(append([]string{}, sqlc[1:]...), "-f", c.path, "vet")
	cmd := exec.CommandContext(ctx, sqlc[0], args...)
	// The command may be a parent of sqlc (go tool): when ctx ends, it is
	// killed, and the output returned, even if sqlc still holds the pipes.
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = os.Environ()
	for _, v := range vars {
		cmd.Env = append(cmd.Env, v+"="+databaseURL)
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), nil
	}
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("sqlc vet on %s: %w (%w)", c.path, ctx.Err(), err)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && len(Parse(string(out)).Fired) > 0 {
		return string(out), fmt.Errorf("%w on %s: %w", ErrRulesFired, c.path, err)
	}
	return string(out), fmt.Errorf("sqlc vet on %s failed without a rule firing: %w", c.path, err)
}
