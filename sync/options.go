package sync

import "context"

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
