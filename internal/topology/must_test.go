package topology_test

// must returns v, or panics with err: for constructors (tvsync.NewWorker,
// syncuow.New) given a configuration the test knows to be valid, so that a
// call keeps its one-line form.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
