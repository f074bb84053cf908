package sync

import (
	"context"
	"fmt"
)

// collect validates changes once and gathers them into the first level of
// a sync: their ids, and as seeds those recorded with Cascade.
func (e *Engine) collect(mode Mode, changes []Change) (batch, error) {
	if err := checkMode(mode); err != nil {
		return batch{}, err
	}
	b := newBatch()
	for _, c := range changes {
		ent, err := e.entity(c.Entity)
		if err != nil {
			return batch{}, err
		}
		if err := e.checkKinds(ent, c.IDs); err != nil {
			return batch{}, err
		}
		if len(c.IDs) == 0 {
			continue
		}
		b.ids.add(c.Entity, c.IDs...)
		if c.Cascade {
			b.seeds.add(c.Entity, c.IDs...)
		}
	}
	return b, nil
}

// checkMode reports a Mode that is not one of the defined modes.
func checkMode(mode Mode) error {
	if !mode.valid() {
		return fmt.Errorf("%w %q (want incremental, full, deferred or repair)", ErrInvalidMode, mode)
	}
	return nil
}

// lookup is a cascade look-up queued on a pipeline: the entity it lists
// ids of, whether it follows a Referencing cascade, and its reader.
type lookup struct {
	entity      string
	referencing bool
	read        func() ([]ID, error)
}

// lookUp sends the queued look-ups on conn (unless conn is nil: p is sent
// already) and calls keep(lookup, id) for each id they list.
func (e *Engine) lookUp(ctx context.Context, conn DB, p *Pipeline, reads []lookup, keep func(lookup, ID)) error {
	if p.size() == 0 {
		return nil
	}
	if conn != nil {
		p.Send(ctx, conn)
	}
	for _, r := range reads {
		ids, err := r.read()
		if err == nil {
			err = e.checkKinds(e.entities[r.entity], ids)
		}
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("look up %s rows to cascade to: %w", r.entity, err)
		}
		for _, id := range ids {
			keep(r, id)
		}
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("look up cascades: %w", err)
	}
	return nil
}

// Expand returns the changes together with the rows a delete of their ids
// would leave stale and that cannot be found once the rows are gone: the
// rows that embed them, following Referencing cascades (rows that reference
// the changed ones, which the delete may remove too) to the end and every
// other cascade one step from each row reached. Run it before deleting
// command rows and record what it returns (the unit of work does): the
// sync then reaches everything else, further along chains of cascades, from
// the documents that actually change. The result is de-duplicated changes
// without Cascade. Each level of referencing rows costs one round trip.
func (e *Engine) Expand(ctx context.Context, conn DB, changes ...Change) ([]Change, error) {
	b, err := e.collect(ModeIncremental, changes)
	if err != nil {
		return nil, err
	}
	all, expanded := b.ids, idSet{}
	frontier := idSet{}
	for name, m := range all {
		for id := range m {
			frontier.add(name, id)
			expanded.add(name, id)
		}
	}
	for frontier.size() > 0 {
		p := &Pipeline{}
		var reads []lookup
		for _, name := range e.order {
			ids := frontier.sorted(name)
			if len(ids) == 0 {
				continue
			}
			for _, c := range e.entities[name].Cascades {
				reads = append(reads, lookup{entity: c.Entity, referencing: c.Referencing, read: c.Lookup(p, ids)})
			}
		}
		next := idSet{}
		err := e.lookUp(ctx, conn, p, reads, func(r lookup, id ID) {
			all.add(r.entity, id)
			if r.referencing && expanded.add(r.entity, id) > 0 {
				next.add(r.entity, id)
			}
		})
		if err != nil {
			return nil, err
		}
		frontier = next
	}
	out := make([]Change, 0, len(all))
	for _, name := range e.order {
		if ids := all.sorted(name); len(ids) > 0 {
			out = append(out, Change{Entity: name, IDs: ids})
		}
	}
	return out, nil
}
