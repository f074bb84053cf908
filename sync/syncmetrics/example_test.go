package syncmetrics_test

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmetrics"
)

// Example registers the collector, which is also the engine's Observer; a
// second engine on the same pool reads the queue gauges, which breaks the
// cycle between the two.
func Example() {
	var pool *pgxpool.Pool // the application's pool

	queue := blog.MustNewEngine(pool, sync.Config{})
	m, err := syncmetrics.New(syncmetrics.Options{Queue: queue, Entities: queue.Entities()}) // both optional
	if err != nil {
		panic(err) // an invalid option, named in err
	}
	prometheus.MustRegister(m)
	engine := blog.MustNewEngine(pool, sync.Config{Observer: m})

	_ = engine
}
