package sync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

type noSyncLogKey struct{}

// WithoutSyncLog returns a context under which syncs write no tvsync.sync_log rows
// (metrics and logs still see them). Config.DisableSyncLog switches tvsync.sync_log
// off for every call of an engine.
func WithoutSyncLog(ctx context.Context) context.Context {
	return context.WithValue(ctx, noSyncLogKey{}, true)
}

func syncLogDisabled(ctx context.Context) bool {
	v, _ := ctx.Value(noSyncLogKey{}).(bool)
	return v
}

// validate checks the fields of o that can be wrong (a negative size or
// count): each error names the field, its value and what it may be.
func (o FullOptions) validate() error {
	return errors.Join(
		positiveOrZero("FullOptions.ChunkSize", o.ChunkSize, "the engine's BatchSize"),
		positiveOrZero("FullOptions.Workers", o.Workers, "GOMAXPROCS"))
}

// validate checks the fields of o that can be wrong (a negative size or
// count): each error names the field, its value and what it may be.
func (o VerifyOptions) validate() error {
	return errors.Join(
		positiveOrZero("VerifyOptions.ChunkSize", o.ChunkSize, "the engine's BatchSize"),
		positiveOrZero("VerifyOptions.Workers", o.Workers, "GOMAXPROCS"),
		positiveOrZero("VerifyOptions.Samples", o.Samples, "5"))
}

// validate checks the fields of o that can be wrong (a negative size,
// timeout or count): each error names the field, its value and what it may
// be.
func (o RebuildOptions) validate() error {
	return errors.Join(
		positiveOrZero("RebuildOptions.ChunkSize", o.ChunkSize, "the engine's BatchSize"),
		positiveOrZero("RebuildOptions.LockTimeout", o.LockTimeout, "two seconds"),
		positiveOrZero("RebuildOptions.Attempts", o.Attempts, "five"))
}

// positiveOrZero returns an error naming field when v is negative; zero
// means def.
func positiveOrZero[T int | time.Duration](field string, v T, def string) error {
	if v >= 0 {
		return nil
	}
	return fmt.Errorf("tvsync: %s: %v: want > 0 (or 0 for %s)", field, v, def)
}
