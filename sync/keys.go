package sync

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/google/uuid"
)

// KeyKind is the type of an entity's primary key: the type of the id column
// of its tb_ and tv_ tables.
type KeyKind uint8

// The key kinds. The zero value is KeyUUID.
const (
	// KeyUUID is a uuid primary key (random, time-ordered UUIDv7, any version).
	KeyUUID KeyKind = iota
	// KeyBigint is a bigint primary key (an identity column or a sequence).
	KeyBigint
)

// String returns the SQL type of the kind: "uuid" or "bigint".
func (k KeyKind) String() string {
	switch k {
	case KeyUUID:
		return "uuid"
	case KeyBigint:
		return "bigint"
	}
	return fmt.Sprintf("KeyKind(%d)", uint8(k))
}

func (k KeyKind) valid() bool { return k == KeyUUID || k == KeyBigint }

// ID is one primary key value of an entity: a uuid or a bigint. It is
// comparable (usable as a map key), and ordered as PostgreSQL orders the
// column (Compare). The zero ID is the all-zero uuid.
//
// Build one with UUIDKey or IntKey, or parse one with ParseID; read it back
// with UUID or Int64. Its String form is canonical (a lowercase hyphenated
// uuid, or a decimal integer): sync_queue stores ids in that form.
type ID struct {
	kind KeyKind
	// b holds the uuid's bytes, or the int64 big-endian with its sign bit
	// flipped (so that byte order is numeric order) followed by zeros.
	b [16]byte
}

// UUIDKey returns the ID of a uuid key.
func UUIDKey(u uuid.UUID) ID { return ID{kind: KeyUUID, b: u} }

// IntKey returns the ID of a bigint key.
func IntKey(n int64) ID {
	id := ID{kind: KeyBigint}
	binary.BigEndian.PutUint64(id.b[:8], uint64(n)^(1<<63))
	return id
}

// Kind returns the kind of the key.
func (id ID) Kind() KeyKind { return id.kind }

// UUID returns the key as a uuid; it is uuid.Nil when id is not a KeyUUID.
func (id ID) UUID() uuid.UUID {
	if id.kind != KeyUUID {
		return uuid.Nil
	}
	return id.b
}

// Int64 returns the key as an int64; it is 0 when id is not a KeyBigint.
func (id ID) Int64() int64 {
	if id.kind != KeyBigint {
		return 0
	}
	return int64(binary.BigEndian.Uint64(id.b[:8]) ^ (1 << 63))
}

// String returns the canonical text of the key: a lowercase hyphenated
// uuid, or the decimal integer.
func (id ID) String() string {
	if id.kind == KeyBigint {
		return strconv.FormatInt(id.Int64(), 10)
	}
	return uuid.UUID(id.b).String()
}

// MarshalText encodes the key as its String, so JSON and logs show
// "42" or "0190c1c6-…", never the internal representation.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// Compare orders two keys as PostgreSQL orders the column: -1, 0 or +1.
// Keys of different kinds order by kind (uuid first); an entity never mixes
// them.
func (id ID) Compare(other ID) int {
	if id.kind != other.kind {
		if id.kind < other.kind {
			return -1
		}
		return 1
	}
	return bytes.Compare(id.b[:], other.b[:])
}

// ParseID parses the text of a key of the given kind: a uuid in any form
// uuid.Parse accepts, or a decimal integer. The error names the text.
func ParseID(kind KeyKind, s string) (ID, error) {
	switch kind {
	case KeyUUID:
		u, err := uuid.Parse(s)
		if err != nil {
			return ID{}, fmt.Errorf("tvsync: invalid uuid key %q: %w", s, err)
		}
		return UUIDKey(u), nil
	case KeyBigint:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ID{}, fmt.Errorf("tvsync: invalid bigint key %q: %w", s, err)
		}
		return IntKey(n), nil
	}
	return ID{}, fmt.Errorf("tvsync: invalid key kind %v for %q", kind, s)
}

// MinID returns the smallest key of a kind (the all-zero uuid, or
// math.MinInt64), where every keyset walk starts. Keyset statements treat
// it specially: a range or listing after MinID includes MinID itself.
func MinID(kind KeyKind) ID {
	if kind == KeyBigint {
		return IntKey(math.MinInt64)
	}
	return UUIDKey(uuid.Nil)
}

// MaxID returns the largest key of a kind (the all-ones uuid, or
// math.MaxInt64), where the last range of a keyset walk ends.
func MaxID(kind KeyKind) ID {
	if kind == KeyBigint {
		return IntKey(math.MaxInt64)
	}
	return UUIDKey(uuid.Max)
}

// UUIDKeys returns the IDs of uuid keys.
func UUIDKeys(ids []uuid.UUID) []ID {
	out := make([]ID, len(ids))
	for i, u := range ids {
		out[i] = UUIDKey(u)
	}
	return out
}

// IntKeys returns the IDs of bigint keys.
func IntKeys(ids []int64) []ID {
	out := make([]ID, len(ids))
	for i, n := range ids {
		out[i] = IntKey(n)
	}
	return out
}

// UUIDs returns the uuids of ids (uuid.Nil for an id of another kind): the
// argument a sqlc statement over a uuid column takes.
func UUIDs(ids []ID) []uuid.UUID {
	out := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		out[i] = id.UUID()
	}
	return out
}

// Int64s returns the int64s of ids (0 for an id of another kind): the
// argument a sqlc statement over a bigint column takes.
func Int64s(ids []ID) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = id.Int64()
	}
	return out
}

// idStrings returns the canonical text of each id.
func idStrings(ids []ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// keyArg returns id as the argument of a parameter of its column's type.
func keyArg(id ID) any {
	if id.kind == KeyBigint {
		return id.Int64()
	}
	return id.UUID()
}

// keyArgs returns ids as the argument of an array parameter of the column's type.
func keyArgs(kind KeyKind, ids []ID) any {
	if kind == KeyBigint {
		return Int64s(ids)
	}
	return UUIDs(ids)
}
