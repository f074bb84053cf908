// Package topology holds the tests of tvsync beyond one server: the blog's
// workload through PgBouncer in transaction mode, and tv_ reads from
// streaming replicas with read-your-writes (package syncread). It has no
// code of its own.
package topology
