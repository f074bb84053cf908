// Package chaos holds tvsync's chaos test (chaos_test.go): mixed writes in
// every repository sync mode against a throwaway PostgreSQL of its own while
// worker processes are SIGKILLed, random backends terminated, the server
// restarted immediately, tables rebuilt concurrently and an unknown entity
// queued; at the end the tv_ tables must match their definition by
// engine.Verify and by an independent recomputation, and no queued row of a
// known entity may be dead. `make test` runs a short variant; `make chaos`
// the long one with every fault.
package chaos
