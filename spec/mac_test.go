package spec_test

import (
	"testing"

	"github.com/vem-switch/vem/spec"
)

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical form; "" when in is rejected
		wantErr string
	}{
		{in: "52:54:00:00:00:0a", want: "52:54:00:00:00:0a"},
		{in: "52:54:00:AB:cd:EF", want: "52:54:00:ab:cd:ef"},
		{in: "02:00:00:00:00:01", want: "02:00:00:00:00:01"}, // locally administered
		{in: "", wantErr: `invalid MAC "": want six colon-separated hex octets`},
		{in: "52-54-00-00-00-0a", wantErr: `invalid MAC "52-54-00-00-00-0a": want six colon-separated hex octets`},
		{in: "5254.0000.000a", wantErr: `invalid MAC "5254.0000.000a": want six colon-separated hex octets`},
		{in: "52:54:00:00:00", wantErr: `invalid MAC "52:54:00:00:00": want six colon-separated hex octets`},
		{in: "52:54:00:00:00:0a:0b:0c", wantErr: `invalid MAC "52:54:00:00:00:0a:0b:0c": want six colon-separated hex octets`},
		{in: "52:54:00:00:00:0g", wantErr: `invalid MAC "52:54:00:00:00:0g": want six colon-separated hex octets`},
		{in: "52:54:00:00:000a", wantErr: `invalid MAC "52:54:00:00:000a": want six colon-separated hex octets`},
		{in: "01:00:5e:00:00:01", wantErr: "MAC 01:00:5e:00:00:01 is multicast, not a station address"},
		{in: "33:33:00:00:00:01", wantErr: "MAC 33:33:00:00:00:01 is multicast, not a station address"},
		{in: "ff:ff:ff:ff:ff:ff", wantErr: "MAC ff:ff:ff:ff:ff:ff is multicast, not a station address"},
		{in: "00:00:00:00:00:00", wantErr: "MAC 00:00:00:00:00:00 is all-zero, not a station address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			mac, err := spec.ParseMAC(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseMAC(%q) = %v, %v; want error %q", tt.in, mac, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMAC(%q): %v", tt.in, err)
			}
			if mac.String() != tt.want {
				t.Errorf("ParseMAC(%q) = %s, want %s", tt.in, mac, tt.want)
			}
		})
	}
}
