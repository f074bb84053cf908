package sync_test

const crashChildEnv = "TVSYNC_CRASH_CHILD"

func crashChild() int { return 0 }
