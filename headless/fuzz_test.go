package headless

import (
	"errors"
	"testing"
)

// FuzzDecodeCheckpoint feeds Decode arbitrary stored values: it must
// return a checkpoint that passes Check and encodes back to one that
// decodes the same, or an error matching ErrCorrupt or ErrSchema; never
// panic.
func FuzzDecodeCheckpoint(f *testing.F) {
	good, err := Encode(testCheckpoint(f, 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`{"schema":1,"switch":{"host":"hv1"},"module":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSchema) {
				t.Fatalf("Decode error %v matches neither ErrCorrupt nor ErrSchema", err)
			}
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("Decode returned a checkpoint that fails Check: %v", err)
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
