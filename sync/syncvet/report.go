package syncvet

import (
	"regexp"
	"strings"
)

// Report is what the output of sqlc vet says about the queries it checked.
type Report struct {
	// Fired maps each query (by its `-- name:`) on which a rule fired to
	// the names of the rules that fired on it, in the order of the output.
	// A query on which no rule fired is absent.
	Fired map[string][]string

	// Errors holds each line on which sqlc vet reports a query it could not
	// check: a rule naming a query it could not prepare or explain on the
	// database, or a rule missing from the configuration. A rule that was
	// not evaluated did not pass.
	Errors []string
}

// vetLine matches a line of sqlc vet naming a query and a rule, as sqlc
// 1.x prints it: "file: QueryName: rule-name: message", or
// "file: QueryName: rule-name" for a rule without a message.
var vetLine = regexp.MustCompile(`^\S+: (\w+): ([^\s:]+)(?:: (.*))?$`)

// errorPrefixes start the message of a line on which sqlc vet names a rule
// it could not evaluate on a query.
var errorPrefixes = []string{"error preparing query:", "error explaining query:"}

// Parse reads the output of sqlc vet (as [Vet] returns it) into a Report.
// Lines that name no query, like a summary or an error about the whole
// configuration, are not in the report; [Vet]'s error covers them.
func Parse(output string) Report {
	r := Report{Fired: map[string][]string{}}
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.Contains(line, ": rule-check error: ") {
			r.Errors = append(r.Errors, line)
			continue
		}
		m := vetLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		isError := false
		for _, p := range errorPrefixes {
			if strings.HasPrefix(m[3], p) {
				isError = true
			}
		}
		if isError {
			r.Errors = append(r.Errors, line)
			continue
		}
		r.Fired[m[1]] = append(r.Fired[m[1]], m[2])
	}
	return r
}
