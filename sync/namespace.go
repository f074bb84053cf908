package sync

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrInvalidNamespace is returned for a namespace that is not empty nor a
// lowercase letter followed by up to 31 lowercase letters, digits or
// underscores (see Config.Namespace).
var ErrInvalidNamespace = errors.New("tvsync: invalid namespace")

// namespaceRE is what Config.Namespace accepts; tvsync.namespace_role
// checks the same in the database.
var namespaceRE = regexp.MustCompile(`^([a-z][a-z0-9_]{0,31})?$`)

// checkNamespace reports whether ns can name an application's rows of
// tvsync.sync_queue and tvsync.sync_log (Config.Namespace): empty (the
// default namespace) or a lowercase letter followed by up to 31 lowercase
// letters, digits or underscores. The error wraps ErrInvalidNamespace and
// quotes ns.
func checkNamespace(ns string) error {
	if !namespaceRE.MatchString(ns) {
		return fmt.Errorf("%w %q: want empty, or a lowercase letter then up to 31 lowercase letters, digits or underscores", ErrInvalidNamespace, ns)
	}
	return nil
}

// namespaceLockPrefix is the advisory lock prefix of an engine of namespace
// ns whose Config.AdvisoryLockPrefix is zero: DefaultAdvisoryLockPrefix
// for the default namespace "", otherwise a 32-bit hash of ns that is
// neither zero nor DefaultAdvisoryLockPrefix, so that the locks of two
// applications in one database differ (two namespaces whose hashes collide
// would only make their syncs of colliding ids wait for each other, never
// go wrong).
func namespaceLockPrefix(ns string) int32 {
	if ns == "" {
		return DefaultAdvisoryLockPrefix
	}
	p := int32(fnv32(fnvOffset32, []byte("tvsync namespace "+ns)))
	if p == 0 || p == DefaultAdvisoryLockPrefix {
		p ^= 0x5a5a5a5a
	}
	return p
}

// queueChannel returns the LISTEN/NOTIFY channel on which the engine's
// deferred writes wake its workers: the package's queueChannel in the
// default namespace, queueChannel + "_" + namespace in any other, so that
// one application's writes never wake another's workers.
func (e *Engine) listenChannel() string {
	if e.cfg.Namespace == "" {
		return queueChannel
	}
	return queueChannel + "_" + e.cfg.Namespace
}
