package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantFailed bool
		want       []string // lines the summary must contain
		wantNot    []string
	}{
		{
			name: "passes and a skip with its reason",
			in: `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:1: chatter\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestA/sub"}
{"Action":"pass","Package":"p","Test":"TestA/sub"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: needs root: run as root\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"pass","Package":"p","Elapsed":1.25}
{"Action":"skip","Package":"q"}
`,
			want: []string{
				"SKIP p TestB:", "    b_test.go:9: needs root: run as root",
				"ok   p 1.2s (1 passed, 1 skipped, 0 failed)", "?    q [no test files]",
			},
			wantNot: []string{"chatter", "--- SKIP"},
		},
		{
			name: "a failure keeps its whole output",
			in: `{"Action":"run","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: got 1\n"}
{"Action":"output","Package":"p","Test":"TestC","Output":"        want 2\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\n"}
{"Action":"fail","Package":"p","Elapsed":2}
`,
			wantFailed: true,
			want:       []string{"FAIL p TestC:", "    c_test.go:3: got 1", "        want 2", "FAIL p 2.0s (0 passed, 0 skipped, 1 failed)"},
		},
		{
			name: "a timeout keeps the running test's output",
			in: `{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"    slow_test.go:5: waiting for the agent\n"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"panic: test timed out after 15m0s\n"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"\trunning tests:\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t900.0s\n"}
{"Action":"fail","Package":"p","Elapsed":900}
{"Action":"run","Package":"q","Test":"TestCut"}
{"Action":"output","Package":"q","Test":"TestCut","Output":"    cut_test.go:1: no newline at the end"}
`,
			wantFailed: true,
			want: []string{
				"FAIL p TestSlow (did not finish):", "    panic: test timed out after 15m0s", "    slow_test.go:5: waiting for the agent",
				"FAIL p 900.0s (0 passed, 0 skipped, 1 failed)",
				"FAIL q TestCut (did not finish):", "    cut_test.go:1: no newline at the end",
			},
		},
		{
			name: "a build failure and non-JSON lines",
			in: `# p
{"ImportPath":"p [p.test]","Action":"build-output","Output":"p/x.go:1:1: syntax error\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
`,
			wantFailed: true,
			want:       []string{"# p", "p/x.go:1:1: syntax error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			failed, err := summarize(strings.NewReader(tt.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if failed != tt.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w+"\n") {
					t.Errorf("summary lacks line %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out.String(), w) {
					t.Errorf("summary has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
