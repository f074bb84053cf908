package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
)

// TestRebuild_EndsWhenTheEntityHoldsItsSmallestKey: items whose ids are the
// smallest key of their kind (math.MinInt64, the all-zero uuid), where the
// build's listing starts inclusively, among others, with chunks of one and
// two ids (a chunk of one that holds only the smallest key must not become
// a cursor that lists it again forever). The rebuild must end, count every
// row once, and leave tv_item exactly what tb_item implies, the stale and
// missing rows of the smallest key included.
func TestRebuild_EndsWhenTheEntityHoldsItsSmallestKey(t *testing.T) {
	t.Parallel()
	for _, k := range []keyKind{bigintSeq, uuidV4} {
		for _, chunk := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/chunk=%d", k.name, chunk), func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				pool, _, engine, _ := itemSetup(t, k, true, 4, tvsync.Config{})
				_, err := pool.Exec(ctx, "INSERT INTO tb_item (id, name) VALUES ("+k.minLiteral()+", 'smallest')")
				require.NoError(t, err)
				_, err = engine.FullSync(ctx, "item", tvsync.FullOptions{})
				require.NoError(t, err)
				_, err = pool.Exec(ctx, `UPDATE tv_item SET data = '{"stale": true}' WHERE id = `+k.minLiteral()+`;
					DELETE FROM tv_item WHERE id = (SELECT id FROM tv_item ORDER BY id DESC LIMIT 1)`)
				require.NoError(t, err)

				res, err := engine.Rebuild(ctx, "item", tvsync.RebuildOptions{ChunkSize: chunk})
				require.NoError(t, err, "the rebuild ends")
				assert.Equal(t, 5, res.Rows, "every item built once")
				assert.Equal(t, 2, res.Differing, "the stale smallest key and the missing row")
				assert.Equal(t, 5, countRows(t, pool, "SELECT count(*) FROM tv_item"))
				assert.Zero(t, countRows(t, pool, `SELECT count(*) FROM tb_item b FULL JOIN tv_item v USING (id)
					WHERE v.data IS DISTINCT FROM jsonb_build_object('id', b.id, 'name', b.name)`), "tv_item is what tb_item implies")
				assert.Equal(t, 1, countRows(t, pool, "SELECT count(*) FROM tv_item WHERE id = "+k.minLiteral()+" AND data->>'name' = 'smallest'"))
			})
		}
	}
}
