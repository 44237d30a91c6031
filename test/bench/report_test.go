package main

import (
	"strings"
	"testing"
)

func TestParseIperf(t *testing.T) {
	ok := `{"start":{},"intervals":[],"end":{"sum_sent":{"bits_per_second":1.25e10,"retransmits":2488},
		"sum_received":{"bits_per_second":1.23e10}}}`
	r, err := parseIperf([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if r.End.SumReceived.BitsPerSecond != 1.23e10 || r.End.SumSent.Retransmits != 2488 {
		t.Errorf("parsed %+v", r.End)
	}

	for _, bad := range []string{
		`{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`,
		`{"end":{}}`,
		`not json`,
	} {
		if _, err := parseIperf([]byte(bad)); err == nil {
			t.Errorf("parseIperf(%q) succeeded, want an error", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSoftnetShares(t *testing.T) {
	before := softnet{processed: []uint64{100, 100}, dropped: []uint64{0, 1}}
	after := softnet{processed: []uint64{400, 200}, dropped: []uint64{0, 3}}
	d := after.sub(before)
	if got := d.split(); got != "75/25" {
		t.Errorf("split = %s, want 75/25", got)
	}
	if got := d.busiest(); got != 75 {
		t.Errorf("busiest = %v, want 75", got)
	}
	if got := d.totalDropped(); got != 2 {
		t.Errorf("dropped = %d, want 2", got)
	}
}

func TestSelectVariants(t *testing.T) {
	all := variants(true)
	got, err := selectVariants(all, "bridge, vem-rps")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "bridge" || got[1].name != "vem-rps" {
		t.Errorf("selected %v", got)
	}
	if _, err := selectVariants(variants(false), "vem-rps"); err == nil || !strings.Contains(err.Error(), "-explore") {
		t.Errorf("vem-rps without -explore: %v, want an error naming -explore", err)
	}
}

func TestPrintVXLANReportFormat(t *testing.T) {
	s := func(g float64, re int) sample {
		return sample{gbps: g, retrans: re, backlog: softnet{processed: []uint64{60, 40}, dropped: []uint64{0, 0}}}
	}
	var b strings.Builder
	printVXLANReport(&b, []variant{{name: "vem"}, {name: "kernel"}}, map[string][]sample{
		"vem":    {s(13.0, 10), s(12.1, 0), s(12.9, 4)},
		"kernel": {s(11.7, 2277), s(9.1, 2000)},
	})
	want := `  variant  runs  Gbit/s   min   max  retrans  vs kernel  vs kernel-rps
      vem     3    12.9  12.1  13.0        4       1.24              -
   kernel     2    10.4   9.1  11.7     2138       1.00              -

medians per run: counters of the receiver (vm2) and the sender (vm1); share of the
backlog (netif_rx) packets the busiest CPU processed, and backlog drops
  variant  rcv OFOQueue  snd RetransSegs  snd SACKReorder  snd DSACKRecvSegs  snd LostRetransmit  busiest CPU %  backlog drops
      vem             0                0                0                  0                   0             60              0
   kernel             0                0                0                  0                   0             60              0
`
	if got := b.String(); got != want {
		t.Errorf("printVXLANReport wrote\n%s\nwant\n%s", got, want)
	}
}
