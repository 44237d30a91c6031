package topo

import "testing"

func TestParsePing(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    PingResult
		wantErr bool
	}{
		{
			name: "iputils all replies",
			out: "PING 192.0.2.2 (192.0.2.2) 56(84) bytes of data.\n\n" +
				"--- 192.0.2.2 ping statistics ---\n" +
				"3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n" +
				"rtt min/avg/max/mdev = 0.031/0.040/0.052/0.008 ms\n",
			want: PingResult{Sent: 3, Received: 3},
		},
		{
			name: "iputils partial loss",
			out:  "--- 192.0.2.2 ping statistics ---\n10 packets transmitted, 7 received, 30% packet loss, time 9012ms\n",
			want: PingResult{Sent: 10, Received: 7},
		},
		{
			name: "iputils no replies with errors",
			out:  "--- 192.0.2.99 ping statistics ---\n2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 1020ms\n",
			want: PingResult{Sent: 2, Received: 0},
		},
		{
			name: "busybox",
			out:  "--- 2001:db8::2 ping statistics ---\n4 packets transmitted, 4 packets received, 0% packet loss\n",
			want: PingResult{Sent: 4, Received: 4},
		},
		{
			name:    "no summary",
			out:     "ping: connect: Network is unreachable\n",
			wantErr: true,
		},
		{
			name:    "empty",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePing(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePing() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parsePing() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPingResultLoss(t *testing.T) {
	tests := []struct {
		r    PingResult
		want float64
	}{
		{PingResult{Sent: 4, Received: 4}, 0},
		{PingResult{Sent: 4, Received: 1}, 0.75},
		{PingResult{Sent: 2, Received: 0}, 1},
		{PingResult{}, 0},
	}
	for _, tt := range tests {
		if got := tt.r.Loss(); got != tt.want {
			t.Errorf("%+v.Loss() = %v, want %v", tt.r, got, tt.want)
		}
	}
}
