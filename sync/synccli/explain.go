package synccli

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/plancheck"
)

// defaultExplainIDs is the batch size explain plans for by default.
const defaultExplainIDs = 100

func (a *App) explainCommand() *cobra.Command {
	var (
		entity  string
		n       int
		generic bool
	)
	cmd := &cobra.Command{
		Use:   "explain [--entity E] [--ids N] [--generic]",
		Short: "print each sync statement and its EXPLAIN ANALYZE plan on current data, rolled back",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkRange("ids", n, 1, maxChunk); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			names, err := entities(s.engine, entity)
			if err != nil {
				return err
			}
			if err := s.ping(ctx); err != nil {
				return err
			}
			for _, name := range names {
				ent, err := s.engine.Entity(name)
				if err != nil {
					return err
				}
				if err := explainEntity(ctx, a.stdout, s.pool, ent, n, generic); err != nil {
					return fmt.Errorf("explain %s: %w", name, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&entity, "entity", "", "entity whose statements to explain (default: all)")
	f.IntVar(&n, "ids", defaultExplainIDs, "batch size: how many ids (the first ones in id order) each statement gets")
	f.BoolVar(&generic, "generic", false, "explain each statement's generic plan (plan_cache_mode = force_generic_plan), the plan a prepared statement may switch to after its fifth execution, instead of its custom plan for the batch")
	return cmd
}

// explainEntity prints, for a batch of up to n ids of ent (its first ids in
// id order), every statement an incremental sync, a full-sync chunk and a
// verify chunk of that batch send (as sync/plancheck captures them), with
// its EXPLAIN (ANALYZE, BUFFERS) plan: its custom plan for the batch, or
// with generic its generic plan. Each statement runs in its own
// transaction, rolled back, so nothing changes.
func explainEntity(ctx context.Context, w io.Writer, pool *pgxpool.Pool, ent tvsync.Entity, n int, generic bool) error {
	stmts, err := plancheck.Statements(ctx, pool, ent, n)
	if err != nil {
		return err
	}
	batch := 0
	if len(stmts) > 0 {
		batch = stmts[0].Batch
	}
	fmt.Fprintf(w, "== %s (%s): %d statements for a batch of %d ids\n", ent.Name, ent.View, len(stmts), batch)
	if batch < n {
		fmt.Fprintf(w, "   (the table holds only %d rows: the plans are for that batch)\n", batch)
	}
	for _, st := range stmts {
		fmt.Fprintf(w, "\n--- %s\n%s\n", st.Label(), strings.TrimSpace(st.SQL))
		explain, kind := plancheck.ExplainText, "plan"
		if generic {
			explain, kind = plancheck.ExplainGenericText, "generic plan"
		}
		plan, err := explain(ctx, pool, st)
		if err != nil {
			return fmt.Errorf("%s: %w", st.Label(), err)
		}
		fmt.Fprintf(w, "%s (EXPLAIN ANALYZE, BUFFERS; rolled back):\n", kind)
		for _, line := range plan {
			fmt.Fprintf(w, "    %s\n", abbreviateIDLists(line))
		}
	}
	fmt.Fprintln(w)
	return nil
}

// idListLiteral matches an array literal of four or more UUIDs, as the
// planner prints a bound batch of ids.
var idListLiteral = regexp.MustCompile(`'\{([0-9a-f]{8}-[0-9a-f-]{27})(?:,[0-9a-f]{8}-[0-9a-f-]{27}){3,}\}'`)

// abbreviateIDLists shortens the id arrays in a plan line to their first id
// and their length, so that a batch of 100 ids does not print 100 UUIDs on
// every index condition.
func abbreviateIDLists(line string) string {
	return idListLiteral.ReplaceAllStringFunc(line, func(lit string) string {
		first := idListLiteral.FindStringSubmatch(lit)[1]
		return fmt.Sprintf("'{%s,… %d ids}'", first, strings.Count(lit, ",")+1)
	})
}
