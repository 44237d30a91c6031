// Command testsum condenses `go test -json` for CI logs: one line per
// package with how many tests passed, skipped and failed, every skipped
// test with its reason (a test that cannot run must say so where CI
// shows it), and the whole output of every failed test. It exits 1 when
// anything failed.
//
//	go test -json ./... | go run ./test/testsum
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one record of `go test -json` (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Elapsed    float64
	Output     string
}

type pkgState struct {
	out                  map[string]*strings.Builder // by test; "" is the package's own
	pass, skip, failures int
}

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// summarize reads events from r and writes the summary to w; it reports
// whether anything failed.
func summarize(r io.Reader, w io.Writer) (failed bool, err error) {
	pkgs := map[string]*pkgState{}
	state := func(p string) *pkgState {
		s, ok := pkgs[p]
		if !ok {
			s = &pkgState{out: map[string]*strings.Builder{}}
			pkgs[p] = s
		}
		return s
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (go vet or the toolchain talking): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
			continue
		case "build-fail":
			failed = true
			continue
		}
		s := state(e.Package)
		b, ok := s.out[e.Test]
		if !ok {
			b = &strings.Builder{}
			s.out[e.Test] = b
		}
		switch e.Action {
		case "output":
			b.WriteString(e.Output)
		case "pass":
			if e.Test != "" {
				if topLevel(e.Test) {
					s.pass++
				}
				delete(s.out, e.Test)
				continue
			}
			fmt.Fprintf(w, "ok   %s %.1fs (%s)\n", e.Package, e.Elapsed, s.counts())
		case "skip":
			if e.Test != "" {
				if topLevel(e.Test) {
					s.skip++
				}
				fmt.Fprintf(w, "SKIP %s %s:\n%s", e.Package, e.Test, indent(reason(b.String())))
				delete(s.out, e.Test)
				continue
			}
			fmt.Fprintf(w, "?    %s [no test files]\n", e.Package)
		case "fail":
			failed = true
			if e.Test != "" {
				if topLevel(e.Test) {
					s.failures++
				}
				fmt.Fprintf(w, "FAIL %s %s:\n%s", e.Package, e.Test, indent(b.String()))
				delete(s.out, e.Test)
				continue
			}
			// Tests that never ended were running when the binary died (a
			// timeout, a panic in another goroutine, os.Exit): their
			// output holds the why.
			s.printUnfinished(w, e.Package)
			fmt.Fprintf(w, "FAIL %s %.1fs (%s)\n%s", e.Package, e.Elapsed, s.counts(), indent(s.out[""].String()))
			delete(pkgs, e.Package)
		}
	}
	// Input that ends mid-package (go test killed) leaves tests unfinished.
	for name, s := range pkgs {
		if s.printUnfinished(w, name) {
			failed = true
		}
	}
	return failed, sc.Err()
}

// printUnfinished prints the tests that started and never ended, counts
// them failed, and reports whether there were any.
func (s *pkgState) printUnfinished(w io.Writer, pkg string) bool {
	var names []string
	for name := range s.out {
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if topLevel(name) {
			s.failures++
		}
		fmt.Fprintf(w, "FAIL %s %s (did not finish):\n%s", pkg, name, indent(s.out[name].String()))
		delete(s.out, name)
	}
	return len(names) > 0
}

// topLevel reports a test that is not a subtest: the counts are of those.
func topLevel(test string) bool { return !strings.Contains(test, "/") }

func (s *pkgState) counts() string {
	return fmt.Sprintf("%d passed, %d skipped, %d failed", s.pass, s.skip, s.failures)
}

// reason keeps a skipped test's own messages, without the === and ---
// framing lines.
func reason(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}
