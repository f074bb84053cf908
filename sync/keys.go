package sync

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

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
	// KeyInteger is an integer (int4) primary key.
	KeyInteger
	// KeyText is a text primary key (an ISBN, a SKU, a slug, a country
	// code, an external id). Text keys are ordered byte by byte, as
	// PostgreSQL orders them under COLLATE "C", whatever the column's or the
	// database's collation: every keyset statement compares and sorts them
	// COLLATE "C", so that a walk neither skips nor repeats a key. The
	// column's collation must be deterministic (the default; every libc
	// collation is), so that equality is byte equality.
	KeyText
)

// String returns the SQL type of the kind: "uuid", "bigint", "integer" or "text".
func (k KeyKind) String() string {
	switch k {
	case KeyUUID:
		return "uuid"
	case KeyBigint:
		return "bigint"
	case KeyInteger:
		return "integer"
	case KeyText:
		return "text"
	}
	return fmt.Sprintf("KeyKind(%d)", uint8(k))
}

func (k KeyKind) valid() bool { return k <= KeyText }

// ID is one primary key value of an entity: a uuid, a bigint, an integer or
// a text. It is comparable (usable as a map key), and ordered as PostgreSQL
// orders the column (Compare; a text key as under COLLATE "C"). The zero ID
// is the all-zero uuid.
//
// Build one with UUIDKey, IntKey, Int32Key or TextKey, or parse one with
// ParseID; read it back with UUID, Int64, Int32 or Text. Its String form is
// canonical (a lowercase hyphenated uuid, a decimal integer, the text
// itself): sync_queue stores ids in that form.
type ID struct {
	kind KeyKind
	// max marks maxID(KeyText), which sorts after every text key.
	max bool
	// b holds the uuid's bytes, or the integer as an int64 big-endian with
	// its sign bit flipped (so that byte order is numeric order) followed
	// by zeros.
	b [16]byte
	// s holds a text key.
	s string
}

// UUIDKey returns the ID of a uuid key.
func UUIDKey(u uuid.UUID) ID { return ID{kind: KeyUUID, b: u} }

// IntKey returns the ID of a bigint key.
func IntKey(n int64) ID { return intKey(KeyBigint, n) }

// Int32Key returns the ID of an integer key.
func Int32Key(n int32) ID { return intKey(KeyInteger, int64(n)) }

// TextKey returns the ID of a text key. The empty text is a key like any
// other, the smallest one.
func TextKey(s string) ID { return ID{kind: KeyText, s: s} }

func intKey(kind KeyKind, n int64) ID {
	id := ID{kind: kind}
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

// Int64 returns the key as an int64 (a bigint or an integer key); it is 0
// when id is of another kind.
func (id ID) Int64() int64 {
	if id.kind != KeyBigint && id.kind != KeyInteger {
		return 0
	}
	return int64(binary.BigEndian.Uint64(id.b[:8]) ^ (1 << 63))
}

// Int32 returns the key as an int32; it is 0 when id is not a KeyInteger.
func (id ID) Int32() int32 {
	if id.kind != KeyInteger {
		return 0
	}
	return int32(id.Int64())
}

// Text returns the key as a text; it is "" when id is not a KeyText, and
// for the largest text key, which has no text (see IsMax).
func (id ID) Text() string { return id.s }

// IsMax reports whether id is the largest key of its kind, the bound after
// every key where a keyset walk ends. A keyset statement over a
// text key reads an upper bound that IsMax as no upper bound at all (its
// parameter upto_open), since no text sorts after every other.
func (id ID) IsMax() bool { return id == maxID(id.kind) }

// String returns the canonical text of the key: a lowercase hyphenated
// uuid, the decimal integer, or the text itself. The largest text key,
// which is no text, prints as "(max)".
func (id ID) String() string {
	switch id.kind {
	case KeyBigint, KeyInteger:
		return strconv.FormatInt(id.Int64(), 10)
	case KeyText:
		if id.max {
			return "(max)"
		}
		return id.s
	}
	return uuid.UUID(id.b).String()
}

// MarshalText encodes the key as its String, so JSON and logs show
// "42" or "0190c1c6-…", never the internal representation.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// Compare orders two keys as PostgreSQL orders the column: -1, 0 or +1.
// Text keys compare byte by byte, as under COLLATE "C". Keys of different
// kinds order by kind (uuid first); an entity never mixes them.
func (id ID) Compare(other ID) int {
	switch {
	case id.kind != other.kind:
		if id.kind < other.kind {
			return -1
		}
		return 1
	case id.kind != KeyText:
		return bytes.Compare(id.b[:], other.b[:])
	case id.max || other.max:
		if id.max == other.max {
			return 0
		}
		if id.max {
			return 1
		}
		return -1
	}
	return strings.Compare(id.s, other.s)
}

// ParseID parses the text of a key of the given kind: a uuid in any form
// uuid.Parse accepts, a decimal integer in the kind's range, or any text
// without a NUL byte (which PostgreSQL's text cannot hold). The error names
// the text.
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
	case KeyInteger:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return ID{}, fmt.Errorf("tvsync: invalid integer key %q: %w", s, err)
		}
		return Int32Key(int32(n)), nil
	case KeyText:
		if strings.IndexByte(s, 0) >= 0 {
			return ID{}, fmt.Errorf("tvsync: invalid text key %q: it holds a NUL byte", s)
		}
		return TextKey(s), nil
	}
	return ID{}, fmt.Errorf("tvsync: invalid key kind %v for %q", kind, s)
}

// minID returns the smallest key of a kind (the all-zero uuid,
// math.MinInt64, math.MinInt32, or the empty text), where every keyset walk
// starts. Keyset statements treat it specially: a range or listing after
// minID includes minID itself.
func minID(kind KeyKind) ID {
	switch kind {
	case KeyBigint:
		return IntKey(math.MinInt64)
	case KeyInteger:
		return Int32Key(math.MinInt32)
	case KeyText:
		return TextKey("")
	}
	return UUIDKey(uuid.Nil)
}

// maxID returns the largest key of a kind (the all-ones uuid,
// math.MaxInt64, math.MaxInt32), where the last range of a keyset walk
// ends. For KeyText, whose keys have no largest one, it is a bound after
// every text key, which is no key itself (IsMax; it has no Text).
func maxID(kind KeyKind) ID {
	switch kind {
	case KeyBigint:
		return IntKey(math.MaxInt64)
	case KeyInteger:
		return Int32Key(math.MaxInt32)
	case KeyText:
		return ID{kind: KeyText, max: true}
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

// Int32Keys returns the IDs of integer keys.
func Int32Keys(ids []int32) []ID {
	out := make([]ID, len(ids))
	for i, n := range ids {
		out[i] = Int32Key(n)
	}
	return out
}

// TextKeys returns the IDs of text keys.
func TextKeys(ids []string) []ID {
	out := make([]ID, len(ids))
	for i, s := range ids {
		out[i] = TextKey(s)
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

// Int32s returns the int32s of ids (0 for an id of another kind): the
// argument a sqlc statement over an integer column takes.
func Int32s(ids []ID) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = id.Int32()
	}
	return out
}

// Texts returns the texts of ids ("" for an id of another kind): the
// argument a sqlc statement over a text column takes.
func Texts(ids []ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Text()
	}
	return out
}

// keyArg returns id as the argument of a parameter of its column's type;
// maxID(KeyText) is NULL.
func keyArg(id ID) any {
	switch id.kind {
	case KeyBigint:
		return id.Int64()
	case KeyInteger:
		return id.Int32()
	case KeyText:
		if id.max {
			return nil
		}
		return id.s
	}
	return id.UUID()
}

// keyArgs returns ids as the argument of an array parameter of the column's type.
func keyArgs(kind KeyKind, ids []ID) any {
	switch kind {
	case KeyBigint:
		return Int64s(ids)
	case KeyInteger:
		return Int32s(ids)
	case KeyText:
		return Texts(ids)
	}
	return UUIDs(ids)
}

// keyCollate is what follows a key column or parameter of kind in an order
// comparison or ORDER BY: COLLATE "C" for a text key (see KeyText), nothing
// for the others.
func keyCollate(kind KeyKind) string {
	if kind == KeyText {
		return ` COLLATE "C"`
	}
	return ""
}
